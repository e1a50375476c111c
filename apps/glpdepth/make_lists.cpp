// `glpdepth make-lists`: writes train/val/test lists for a dataset root, holding validation
// sequences out of the training data so the test split is never used for model selection.
#include <iostream>

#include "cli.h"
#include "glpdepth/data/lists.h"

namespace glpdepth::cli {
namespace {

struct MakeListsCli {
  std::string dataset;
  std::string data_path;
  double val_fraction = 0.1;
  uint64_t seed = 0;
  std::string out;
};

void run_make_lists(const MakeListsCli& o) {
  MakeListsOptions options;
  options.dataset = o.dataset;
  options.data_path = o.data_path;
  options.val_fraction = o.val_fraction;
  options.seed = o.seed;
  options.out = o.out;
  ListsSummary s = make_lists(options);
  std::cout << "wrote " << (s.out / "train.txt").string() << " (" << s.train << " lines, "
            << s.train_sequences << " sequences)\n"
            << "wrote " << (s.out / "val.txt").string() << " (" << s.val << " lines, "
            << s.val_sequences.size() << " sequences";
  for (size_t i = 0; i < s.val_sequences.size(); ++i) {
    std::cout << (i == 0 ? ": " : ", ") << s.val_sequences[i];
  }
  std::cout << ")\n"
            << "wrote " << (s.out / "test.txt").string() << " (" << s.test << " lines)\n";
  for (const std::string& note : s.notes) std::cout << "note: " << note << "\n";
}

}  // namespace

GLPDEPTH_COMMAND({"make-lists", "Write train/val/test lists for a dataset root", 60,
                  [](CLI::App& command, CommonOptions&) {
                    auto o = std::make_shared<MakeListsCli>();
                    add_option(command, "dataset", o->dataset,
                               "kitti, drivingstereo or nyudepthv2")
                        ->required();
                    add_option(command, "data_path", o->data_path, "the dataset root")
                        ->required();
                    add_option(command, "val_fraction", o->val_fraction,
                               "fraction of training sequences held out for validation");
                    add_option(command, "seed", o->seed, "seed of the validation choice");
                    add_option(command, "out", o->out,
                               "output folder (default <data_path>/lists)");
                    command.callback([o] { run_make_lists(*o); });
                  }});

}  // namespace glpdepth::cli
