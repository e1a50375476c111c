#include "glpdepth/io/pytorch_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth {

PyValue PyValue::bytes(std::string value) {
  PyValue out(std::move(value));
  out.kind_ = Kind::Bytes;
  return out;
}

PyValue PyValue::list(Items items) {
  PyValue out;
  out.kind_ = Kind::List;
  out.items_ = std::move(items);
  return out;
}

PyValue PyValue::tuple(Items items) {
  PyValue out = list(std::move(items));
  out.kind_ = Kind::Tuple;
  return out;
}

PyValue PyValue::dict(Entries entries) {
  PyValue out;
  out.kind_ = Kind::Dict;
  out.entries_ = std::move(entries);
  return out;
}

const char* PyValue::kind_name(Kind kind) {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

namespace {
[[noreturn]] void wrong_kind(PyValue::Kind have, const char* want) {
  throw Error(cat("expected a ", want, " value, got ", PyValue::kind_name(have)));
}
}  // namespace

bool PyValue::as_bool() const {
  if (kind_ != Kind::Bool) wrong_kind(kind_, "bool");
  return int_ != 0;
}

int64_t PyValue::as_int() const {
  if (kind_ != Kind::Int && kind_ != Kind::Bool) wrong_kind(kind_, "int");
  return int_;
}

double PyValue::as_float() const {
  if (kind_ == Kind::Int) return static_cast<double>(int_);
  if (kind_ != Kind::Float) wrong_kind(kind_, "float");
  return float_;
}

const std::string& PyValue::as_string() const {
  if (kind_ != Kind::String && kind_ != Kind::Bytes) wrong_kind(kind_, "str");
  return string_;
}

const torch::Tensor& PyValue::as_tensor() const {
  if (kind_ != Kind::Tensor) wrong_kind(kind_, "tensor");
  return tensor_;
}

const PyValue::Items& PyValue::items() const {
  if (kind_ != Kind::List && kind_ != Kind::Tuple) wrong_kind(kind_, "list");
  return items_;
}

PyValue::Items& PyValue::items() {
  if (kind_ != Kind::List && kind_ != Kind::Tuple) wrong_kind(kind_, "list");
  return items_;
}

const PyValue::Entries& PyValue::entries() const {
  if (kind_ != Kind::Dict) wrong_kind(kind_, "dict");
  return entries_;
}

PyValue::Entries& PyValue::entries() {
  if (kind_ != Kind::Dict) wrong_kind(kind_, "dict");
  return entries_;
}

const PyValue* PyValue::find(std::string_view key) const {
  for (const auto& [k, v] : entries()) {
    if (k.kind_ == Kind::String && k.string_ == key) return &v;
  }
  return nullptr;
}

const PyValue* PyValue::find(int64_t key) const {
  for (const auto& [k, v] : entries()) {
    if ((k.kind_ == Kind::Int || k.kind_ == Kind::Bool) && k.int_ == key) return &v;
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
    case Kind::None: return true;
    case Kind::Bool: return a.as_bool() == b.as_bool();
    case Kind::Int: return a.as_int() == b.as_int();
    case Kind::Float: return a.as_float() == b.as_float();
    case Kind::String:
    case Kind::Bytes: return a.as_string() == b.as_string();
    case Kind::List:
    case Kind::Tuple: return a.items() == b.items();
    case Kind::Dict: return a.entries() == b.entries();
    case Kind::Tensor: {
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
