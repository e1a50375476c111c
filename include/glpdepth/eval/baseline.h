// The constant guess a trained model must beat: every pixel predicted at the median depth of the
// training data. A model that learned nothing about the scene scores about this (make demo
// prints it beside its result; tests/train/learning_test.cpp holds training to beating it).
#pragma once
#include <cstdint>

#include "glpdepth/data/dataset.h"
#include "glpdepth/eval/evaluator.h"

namespace glpdepth {

// The median of the valid (> 0) ground-truth depths of at most `max_samples` samples spread
// evenly over `dataset` (all of them when it is smaller). Throws Error when the dataset has no
// depth or no valid pixel.
double median_depth(const Dataset& dataset, int64_t max_samples = 256);

// A DepthFunction that predicts `depth` metres at every pixel.
DepthFunction constant_depth(double depth);

}  // namespace glpdepth
