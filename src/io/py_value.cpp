#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

PyValue PyValue::bytes(std::string value) {
  PyValue out(std::move(value));
  out.kind_ = Kind::kBytes;
  return out;
}

PyValue PyValue::list(Items items) {
  PyValue out;
  out.kind_ = Kind::kList;
  out.items_ = std::move(items);
  return out;
}

PyValue PyValue::tuple(Items items) {
  PyValue out = list(std::move(items));
  out.kind_ = Kind::kTuple;
  return out;
}

PyValue PyValue::dict(Entries entries) {
  PyValue out;
  out.kind_ = Kind::kDict;
  out.entries_ = std::move(entries);
  return out;
}

const char* PyValue::kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

namespace {
[[noreturn]] void wrong_kind(PyValue::Kind have, const char* want) {
  throw Error(cat("expected a ", want, " value, got ", PyValue::kind_name(have)));
}
}  // namespace

bool PyValue::as_bool() const {
  if (kind_ != Kind::kBool) wrong_kind(kind_, "bool");
  return int_ != 0;
}

int64_t PyValue::as_int() const {
  if (kind_ != Kind::kInt && kind_ != Kind::kBool) wrong_kind(kind_, "int");
  return int_;
}

double PyValue::as_float() const {
  if (kind_ == Kind::kInt) return static_cast<double>(int_);
  if (kind_ != Kind::kFloat) wrong_kind(kind_, "float");
  return float_;
}

const std::string& PyValue::as_string() const {
  if (kind_ != Kind::kString && kind_ != Kind::kBytes) wrong_kind(kind_, "str");
  return string_;
}

const torch::Tensor& PyValue::as_tensor() const {
  if (kind_ != Kind::kTensor) wrong_kind(kind_, "tensor");
  return tensor_;
}

const PyValue::Items& PyValue::items() const {
  if (kind_ != Kind::kList && kind_ != Kind::kTuple) wrong_kind(kind_, "list");
  return items_;
}

PyValue::Items& PyValue::items() {
  if (kind_ != Kind::kList && kind_ != Kind::kTuple) wrong_kind(kind_, "list");
  return items_;
}

const PyValue::Entries& PyValue::entries() const {
  if (kind_ != Kind::kDict) wrong_kind(kind_, "dict");
  return entries_;
}

PyValue::Entries& PyValue::entries() {
  if (kind_ != Kind::kDict) wrong_kind(kind_, "dict");
  return entries_;
}

const PyValue* PyValue::find(std::string_view key) const {
  for (const auto& [k, v] : entries()) {
    if (k.kind_ == Kind::kString && k.string_ == key) return &v;
  }
  return nullptr;
}

const PyValue* PyValue::find(int64_t key) const {
  for (const auto& [k, v] : entries()) {
    if ((k.kind_ == Kind::kInt || k.kind_ == Kind::kBool) && k.int_ == key) return &v;
  }
  return nullptr;
}

const PyValue& PyValue::at(std::string_view key) const {
  const PyValue* found = find(key);
  if (!found) throw Error(cat("no entry '", key, "'"));
  return *found;
}

PyValue& PyValue::set(PyValue key, PyValue value) {
  for (auto& [k, v] : entries()) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
  return *this;
}

PyValue& PyValue::append(PyValue value) {
  items().push_back(std::move(value));
  return *this;
}

bool operator==(const PyValue& a, const PyValue& b) {
  using Kind = PyValue::Kind;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kNone: return true;
    case Kind::kBool: return a.as_bool() == b.as_bool();
    case Kind::kInt: return a.as_int() == b.as_int();
    case Kind::kFloat: return a.as_float() == b.as_float();
    case Kind::kString:
    case Kind::kBytes: return a.as_string() == b.as_string();
    case Kind::kList:
    case Kind::kTuple: return a.items() == b.items();
    case Kind::kDict: return a.entries() == b.entries();
    case Kind::kTensor: {
      const auto& x = a.as_tensor();
      const auto& y = b.as_tensor();
      if (x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes()) return false;
      return torch::equal(x.cpu(), y.cpu());
    }
  }
  return false;
}

torch::Tensor find_tensor(const StateDict& state, std::string_view name) {
  for (const auto& [key, tensor] : state) {
    if (key == name) return tensor;
  }
  return {};
}

}  // namespace glpdepth
