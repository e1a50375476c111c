// Loader throughput: samples/s for KITTI-sized pairs (1242x375 JPEG image + 16-bit PNG depth)
// through the training path (decode, kb-crop, augmentation, collate) at several worker counts.
// Generates its own data in a temporary folder, removed at the end.
//
//   bench_loader [--pairs N] [--batch B] [--epochs E] [--workers 1,2,4] [--json FILE]
//                [--no-augment]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include "glpdepth/data/loader.h"
#include "glpdepth/io/image.h"
#include "glpdepth/util/error.h"

namespace fs = std::filesystem;
using namespace glpdepth;

namespace {

// A smooth scene-like picture (JPEG-friendly) and a depth ramp, different per frame.
void write_pair(const fs::path& root, int frame, std::string& list) {
  const int w = 1242, h = 375;
  Image8 rgb(w, h, 3);
  Image16 depth(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = rgb.at(x, y);
      p[0] = static_cast<uint8_t>((x * 255) / w);
      p[1] = static_cast<uint8_t>((y * 255) / h);
      p[2] = static_cast<uint8_t>(((x + y + 13 * frame) * 7) % 256);
      // Sparse like LiDAR ground truth: about one pixel in five has depth.
      depth.at(x, y) = (x * 7 + y * 3 + frame) % 5 == 0 ? static_cast<uint16_t>(256 * (1 + y / 10.0)) : 0;
    }
  }
  char name[32];
  std::snprintf(name, sizeof name, "%010d", frame);
  const std::string img = "/raw_data/2011_09_26/2011_09_26_drive_0001_sync/image_02/data/" +
                          std::string(name) + ".jpg";
  const std::string gt = "/data_depth_annotated/train/2011_09_26_drive_0001_sync/proj_depth/"
                         "groundtruth/image_02/" + std::string(name) + ".png";
  fs::create_directories(fs::path(root.string() + img).parent_path());
  fs::create_directories(fs::path(root.string() + gt).parent_path());
  write_image(root.string() + img, rgb, 95);
  write_png16(root.string() + gt, depth);
  list += img + " " + gt + "\n";
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int pairs = 32, batch = 4, epochs = 2;
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> workers = {1, 2};
  if (cores > 2) workers.push_back(cores);
  std::string json;
  bool augment = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "bench_loader: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--pairs") pairs = std::stoi(value());
    else if (a == "--batch") batch = std::stoi(value());
    else if (a == "--epochs") epochs = std::stoi(value());
    else if (a == "--workers") workers = parse_list(value());
    else if (a == "--json") json = value();
    else if (a == "--no-augment") augment = false;
    else {
      std::cerr << "usage: bench_loader [--pairs N] [--batch B] [--epochs E] [--workers 1,2,4] "
                   "[--json FILE] [--no-augment]\n";
      return 2;
    }
  }
  torch::set_num_threads(1);  // the loader's own threads do the work

  std::string pattern = (fs::temp_directory_path() / "glpdepth-bench-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    std::cerr << "bench_loader: cannot create a temporary folder\n";
    return 1;
  }
  const fs::path root = pattern;
  int rc = 0;
  try {
    std::string list;
    for (int f = 0; f < pairs; ++f) write_pair(root, f, list);
    fs::create_directories(root / "lists");
    std::ofstream(root / "lists/train.txt") << list;

    DatasetOptions d;
    d.dataset = DatasetKind::kKitti;
    d.data_path = root;
    std::shared_ptr<const Dataset> dataset = make_dataset(d);
    auto augmenter = augment ? std::make_shared<Augmenter>(AugmentOptions{}, dataset->defaults())
                             : nullptr;
    std::cout << "bench_loader: " << pairs << " KITTI pairs 1242x375 (JPEG q95 + PNG16), "
              << (augment ? "kb-crop + training augmentation + crop 352x704"
                          : "kb-crop only (352x1216), no augmentation")
              << ", batch " << batch << ", "
              << epochs << " epoch(s) after one warm-up epoch, " << cores << " cores visible\n";
    std::string results;
    for (int w : workers) {
      LoaderOptions o;
      o.batch_size = batch;
      o.workers = w;
      o.shuffle = true;
      o.drop_last = true;
      Loader loader(dataset, o, augmenter);
      for (Batch& b : loader) (void)b;  // warm-up: page cache, allocator
      int64_t samples = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int e = 0; e < epochs; ++e) {
        loader.set_epoch(e + 1);
        for (Batch& b : loader) samples += b.size();
      }
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("workers %2d: %8.1f samples/s  (%lld samples in %.2f s)\n", w, samples / s,
                  static_cast<long long>(samples), s);
      results += (results.empty() ? "" : ", ") +
                 cat("{\"workers\": ", w, ", \"samples_per_s\": ", samples / s, "}");
    }
    if (!json.empty()) {
      std::ofstream(json) << "{\"pairs\": " << pairs << ", \"batch\": " << batch
                          << ", \"results\": [" << results << "]}\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    rc = 1;
  }
  std::error_code ignored;
  fs::remove_all(root, ignored);
  return rc;
}
