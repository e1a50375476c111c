// glpdepth: monocular metric depth (GLPDepth) on LibTorch. One header for programs that use the
// library (docs/API.md); each concern also has its own header under glpdepth/.
#pragma once

#include "glpdepth/version.h"
#include "glpdepth/util/error.h"
#include "glpdepth/util/precision.h"
#include "glpdepth/util/threads.h"

#include "glpdepth/io/calib.h"
#include "glpdepth/io/colormap.h"
#include "glpdepth/io/depth_outputs.h"
#include "glpdepth/io/video.h"
#include "glpdepth/io/image.h"
#include "glpdepth/io/weights.h"

#include "glpdepth/model/glpdepth.h"
#include "glpdepth/model/loading.h"

#include "glpdepth/data/dataset.h"
#include "glpdepth/data/loader.h"
#include "glpdepth/data/synth.h"

#include "glpdepth/infer/backend.h"
#include "glpdepth/infer/depth_files.h"
#include "glpdepth/infer/pipeline.h"
#include "glpdepth/infer/predictor.h"
#include "glpdepth/infer/stream.h"
#include "glpdepth/infer/video.h"

#include "glpdepth/eval/evaluator.h"
#include "glpdepth/eval/metrics.h"
#include "glpdepth/eval/results.h"

#include "glpdepth/train/config.h"
#include "glpdepth/train/trainer.h"

#include "glpdepth/deploy/onnx_export.h"
