#include "glpdepth/io/weights.h"

#include <map>
#include <set>
#include <unordered_map>

#include "glpdepth/util/error.h"

namespace glpdepth {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    parts.push_back(s.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t from = 0) {
  std::string out;
  for (size_t k = from; k < parts.size(); ++k) {
    if (!out.empty()) out += '.';
    out += parts[k];
  }
  return out;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 4 && s.find_first_not_of("0123456789") == std::string::npos;
}

std::string list_names(const std::vector<std::string>& names, size_t limit = 20) {
  std::string out;
  for (size_t k = 0; k < names.size() && k < limit; ++k) out += (k ? ", " : "") + names[k];
  if (names.size() > limit) out += cat(", ... (", names.size() - limit, " more)");
  return out;
}

// Inside one encoder block: HF name (after "block.{s}.{i}.") to the reference name.
const std::pair<const char*, const char*> kBlockNames[] = {
    {"layer_norm_1", "norm1"},
    {"layer_norm_2", "norm2"},
    {"attention.self.query", "attn.q"},
    {"attention.self.sr", "attn.sr"},
    {"attention.self.layer_norm", "attn.norm"},
    {"attention.output.dense", "attn.proj"},
    {"mlp.dense1", "mlp.fc1"},
    {"mlp.dense2", "mlp.fc2"},
    {"mlp.dwconv.dwconv", "mlp.dwconv.dwconv"},
};

// Returns the reference name, or "" when `name` is not an HF GLPN name. Key/value halves come
// back as "...attn.kv.<leaf>#key" / "#value" for the caller to merge.
std::string hf_to_reference_name(const std::string& name) {
  std::vector<std::string> p = split(name);
  auto plus1 = [](const std::string& index) { return std::to_string(std::stoi(index) + 1); };
  if (p.size() >= 4 && p[0] == "glpn" && p[1] == "encoder") {
    if (p[2] == "patch_embeddings" && p.size() == 6 && is_index(p[3])) {
      std::string sub = p[4] == "layer_norm" ? "norm" : p[4];
      if (sub != "norm" && sub != "proj") return "";
      return "encoder.patch_embed" + plus1(p[3]) + "." + sub + "." + p[5];
    }
    if (p[2] == "layer_norm" && p.size() == 5 && is_index(p[3])) {
      return "encoder.norm" + plus1(p[3]) + "." + p[4];
    }
    if (p[2] == "block" && p.size() >= 7 && is_index(p[3]) && is_index(p[4])) {
      std::string prefix = "encoder.block" + plus1(p[3]) + "." + p[4] + ".";
      std::string inner = join(std::vector<std::string>(p.begin() + 5, p.end() - 1));
      std::string leaf = p.back();
      if (inner == "attention.self.key") return prefix + "attn.kv." + leaf + "#key";
      if (inner == "attention.self.value") return prefix + "attn.kv." + leaf + "#value";
      for (const auto& [hf, ref] : kBlockNames) {
        if (inner == hf) return prefix + ref + "." + leaf;
      }
    }
    return "";
  }
  if (p.size() >= 5 && p[0] == "decoder" && p[1] == "stages" && is_index(p[2])) {
    int stage = std::stoi(p[2]);
    if (p[3] == "convolution" && p.size() == 5 && stage <= 2) {
      const char* names[] = {"bot_conv", "skip_conv1", "skip_conv2"};
      return std::string("decoder.") + names[stage] + "." + p[4];
    }
    if (p[3] == "fusion" && stage >= 1 && stage <= 3 && p.size() >= 6 &&
        starts_with(p[4], "convolutional_layer")) {
      std::string j = p[4].substr(std::string("convolutional_layer").size());
      return "decoder.fusion" + p[2] + ".conv" + j + "." + join(p, 5);
    }
    return "";
  }
  if (p.size() >= 4 && p[0] == "head" && p[1] == "head") return "last_layer_depth." + join(p, 2);
  return "";
}

}  // namespace

std::string LoadReport::summary() const {
  std::string out = cat("loaded ", loaded.size());
  out += cat(", missing ", missing.size());
  if (!missing.empty()) out += " (" + list_names(missing, 10) + ")";
  out += cat(", unexpected ", unexpected.size());
  if (!unexpected.empty()) out += " (" + list_names(unexpected, 10) + ")";
  return out;
}

StateDict strip_module_prefix(StateDict state) {
  for (auto& [name, tensor] : state) {
    if (starts_with(name, "module.")) name = name.substr(7);
  }
  return state;
}

bool is_hf_glpn_state_dict(const StateDict& state) {
  for (const auto& [name, tensor] : state) {
    if (starts_with(name, "glpn.") || starts_with(name, "head.head.") ||
        starts_with(name, "decoder.stages.")) {
      return true;
    }
  }
  return false;
}

StateDict hf_glpn_to_reference(const StateDict& state) {
  StateDict out;
  // kv halves wait here until both are present; the position of the key half is kept.
  std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> halves;
  std::map<std::string, size_t> slot;
  for (const auto& [name, tensor] : state) {
    std::string ref = hf_to_reference_name(name);
    if (ref.empty()) {
      out.emplace_back(name, tensor);
      continue;
    }
    auto hash = ref.find('#');
    if (hash == std::string::npos) {
      out.emplace_back(ref, tensor);
      continue;
    }
    std::string kv = ref.substr(0, hash);
    auto& pair = halves[kv];
    (ref.substr(hash + 1) == "key" ? pair.first : pair.second) = tensor;
    if (!slot.count(kv)) {
      slot[kv] = out.size();
      out.emplace_back(kv, torch::Tensor());
    }
  }
  for (const auto& [kv, pair] : halves) {
    check(pair.first.defined() && pair.second.defined(), "HF state_dict: '", kv,
          "' needs both attention.self.key and attention.self.value");
    check(pair.first.sizes() == pair.second.sizes(), "HF state_dict: key and value of '", kv,
          "' differ in shape");
    out[slot[kv]].second = torch::cat({pair.first, pair.second}, 0);
  }
  return out;
}

StateDict reference_to_hf_glpn(const StateDict& state) {
  StateDict out;
  for (const auto& [name, tensor] : state) {
    std::vector<std::string> p = split(name);
    auto minus1 = [](const std::string& s, size_t skip) {
      return std::to_string(std::stoi(s.substr(skip)) - 1);
    };
    std::string leaf = p.back();
    if (p[0] == "encoder" && p.size() >= 3) {
      if (starts_with(p[1], "patch_embed")) {
        std::string sub = p[2] == "norm" ? "layer_norm" : p[2];
        out.emplace_back("glpn.encoder.patch_embeddings." + minus1(p[1], 11) + "." + sub + "." +
                             leaf,
                         tensor);
        continue;
      }
      if (starts_with(p[1], "norm")) {
        out.emplace_back("glpn.encoder.layer_norm." + minus1(p[1], 4) + "." + leaf, tensor);
        continue;
      }
      if (starts_with(p[1], "block") && p.size() >= 5) {
        std::string prefix = "glpn.encoder.block." + minus1(p[1], 5) + "." + p[2] + ".";
        std::string inner = join(std::vector<std::string>(p.begin() + 3, p.end() - 1));
        if (inner == "attn.kv") {
          auto halves = tensor.chunk(2, 0);
          out.emplace_back(prefix + "attention.self.key." + leaf, halves[0]);
          out.emplace_back(prefix + "attention.self.value." + leaf, halves[1]);
          continue;
        }
        bool done = false;
        for (const auto& [hf, ref] : kBlockNames) {
          if (inner == ref) {
            out.emplace_back(prefix + hf + "." + leaf, tensor);
            done = true;
            break;
          }
        }
        if (done) continue;
      }
    }
    if (p[0] == "decoder" && p.size() >= 3) {
      if (p[1] == "bot_conv" || p[1] == "skip_conv1" || p[1] == "skip_conv2") {
        std::string stage = p[1] == "bot_conv" ? "0" : p[1] == "skip_conv1" ? "1" : "2";
        out.emplace_back("decoder.stages." + stage + ".convolution." + join(p, 2), tensor);
        continue;
      }
      if (starts_with(p[1], "fusion") && starts_with(p[2], "conv")) {
        out.emplace_back("decoder.stages." + p[1].substr(6) + ".fusion.convolutional_layer" +
                             p[2].substr(4) + "." + join(p, 3),
                         tensor);
        continue;
      }
    }
    if (p[0] == "last_layer_depth") {
      out.emplace_back("head.head." + join(p, 1), tensor);
      continue;
    }
    out.emplace_back(name, tensor);
  }
  return out;
}

StateDict normalize_state_dict(StateDict state) {
  state = strip_module_prefix(std::move(state));
  if (is_hf_glpn_state_dict(state)) state = hf_glpn_to_reference(state);
  return state;
}

StateDict module_state_dict(const torch::nn::Module& module) {
  StateDict out;
  for (const auto& item : module.named_modules("", /*include_self=*/true)) {
    std::string prefix = item.key().empty() ? "" : item.key() + ".";
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) {
      out.emplace_back(prefix + p.key(), p.value().detach());
    }
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false)) {
      out.emplace_back(prefix + b.key(), b.value().detach());
    }
  }
  return out;
}

LoadReport load_weights(torch::nn::Module& module, const StateDict& raw_state, LoadMode mode,
                        const std::string& what) {
  StateDict state = normalize_state_dict(raw_state);
  std::unordered_map<std::string, torch::Tensor> targets;
  std::vector<std::string> order;
  for (const auto& p : module.named_parameters(true)) {
    targets.emplace(p.key(), p.value());
    order.push_back(p.key());
  }
  for (const auto& b : module.named_buffers(true)) {
    targets.emplace(b.key(), b.value());
    order.push_back(b.key());
  }
  const std::string scope = mode == LoadMode::kEncoderOnly ? "encoder." : "";
  if (mode == LoadMode::kEncoderOnly) {
    bool has_encoder = false;
    for (const auto& name : order) has_encoder = has_encoder || starts_with(name, scope);
    check(has_encoder, what, ": the module has no 'encoder.' parameters to load into");
  }

  LoadReport report;
  std::vector<std::string> mismatched;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  std::set<std::string> used;
  for (const auto& [name, tensor] : state) {
    std::string target = name;
    if (mode == LoadMode::kEncoderOnly && !starts_with(name, scope)) target = scope + name;
    auto found = targets.find(target);
    if (found == targets.end()) {
      report.unexpected.push_back(name);
      continue;
    }
    check(used.insert(target).second, what, ": '", target, "' appears twice");
    if (found->second.sizes() != tensor.sizes()) {
      mismatched.push_back(cat(target, " (file ", tensor.sizes(), ", model ",
                               found->second.sizes(), ")"));
      continue;
    }
    copies.emplace_back(found->second, tensor);
    report.loaded.push_back(target);
  }
  for (const auto& name : order) {
    if (starts_with(name, scope) && !used.count(name)) report.missing.push_back(name);
  }
  check(mismatched.empty(), what, ": shape mismatch for ", mismatched.size(), " tensor(s): ",
        list_names(mismatched));
  if (mode == LoadMode::kStrict) {
    std::string problems;
    if (!report.missing.empty()) {
      problems += cat(" missing ", report.missing.size(), " key(s): ",
                      list_names(report.missing), ";");
    }
    if (!report.unexpected.empty()) {
      problems += cat(" unexpected ", report.unexpected.size(), " key(s): ",
                      list_names(report.unexpected), ";");
    }
    check(problems.empty(), what, ": state_dict does not match the model:", problems);
  } else {
    check(!report.loaded.empty(), what, ": no entry matches the model's encoder (unexpected: ",
          list_names(report.unexpected, 5), ")");
  }
  torch::NoGradGuard no_grad;
  for (auto& [destination, source] : copies) destination.copy_(source);
  return report;
}

LoadReport load_weights_file(torch::nn::Module& module, const std::filesystem::path& path,
                             LoadMode mode) {
  return load_weights(module, read_state_dict(path), mode, cat("file ", path.string()));
}

}  // namespace glpdepth
