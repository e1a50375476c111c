// `glpdepth make-lists`: writes train/val/test lists for a dataset root, holding validation
// sequences out of the training data so the test split is never used for model selection.
#include <iostream>

#include "cli.h"
#include "flags.h"
#include "glpdepth/data/location.h"
#include "glpdepth/data/lists.h"

namespace glpdepth::cli {
namespace {

struct MakeListsCli {
  DatasetKind dataset = DatasetKind::kKitti;
  std::string data_path;
  double val_fraction = 0.1;
  uint64_t seed = 0;
  std::string out;
};

void run_make_lists(const MakeListsCli& o) {
  const DatasetLocation location = locate_dataset(o.dataset, o.data_path);
  if (!location.note.empty()) std::cout << "note: " << location.note << "\n";
  MakeListsOptions options;
  options.dataset = o.dataset;
  options.data_path = location.root;
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

void setup_make_lists(CLI::App& command, CommonOptions&) {
  auto o = std::make_shared<MakeListsCli>();
  add_dataset_name_flag(command, o->dataset);
  add_data_path_flag(command, o->data_path);
  command.get_option("--data_path")->required();
  add_val_fraction_flag(command, o->val_fraction);
  add_seed_flag(command, o->seed);
  add_output_flag(command, o->out, "folder of the list files (default <data_path>/lists)", {"--out"});
  command.callback([o] { run_make_lists(*o); });
}

}  // namespace

GLPDEPTH_COMMAND({"make-lists", "Write train/val/test lists for a dataset root", 60,
                  setup_make_lists});

}  // namespace glpdepth::cli
