#include "io/pickle.h"

#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "glpdepth/util/error.h"

namespace glpdepth::detail {

uint8_t ByteSource::read_u8() {
  uint8_t value;
  read(&value, 1);
  return value;
}

void MemorySource::read(void* destination, uint64_t n) {
  check(n <= remaining(), "truncated data (", n, " bytes needed, ", remaining(), " left)");
  std::memcpy(destination, bytes_.data() + position_, n);
  position_ += n;
}

FileSource::FileSource(std::ifstream& in, uint64_t position, uint64_t end)
    : in_(in), position_(position), end_(end) {
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(position));
  check(static_cast<bool>(in_), "cannot seek to byte ", position);
}

void FileSource::read(void* destination, uint64_t n) {
  check(n <= remaining(), "truncated data (", n, " bytes needed, ", remaining(), " left)");
  in_.read(static_cast<char*>(destination), static_cast<std::streamsize>(n));
  check(static_cast<uint64_t>(in_.gcount()) == n, "read failed at byte ", position_);
  position_ += n;
}

int64_t element_size(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Double:
    case c10::ScalarType::Long:
      return 8;
    case c10::ScalarType::Float:
    case c10::ScalarType::Int:
      return 4;
    case c10::ScalarType::Half:
    case c10::ScalarType::BFloat16:
    case c10::ScalarType::Short:
      return 2;
    case c10::ScalarType::Char:
    case c10::ScalarType::Byte:
    case c10::ScalarType::Bool:
      return 1;
    default:
      throw Error(cat("unsupported tensor dtype ", c10::toString(dtype)));
  }
}

namespace {

const std::pair<const char*, c10::ScalarType> kStorageClasses[] = {
    {"FloatStorage", c10::ScalarType::Float},   {"DoubleStorage", c10::ScalarType::Double},
    {"HalfStorage", c10::ScalarType::Half},     {"BFloat16Storage", c10::ScalarType::BFloat16},
    {"LongStorage", c10::ScalarType::Long},     {"IntStorage", c10::ScalarType::Int},
    {"ShortStorage", c10::ScalarType::Short},   {"CharStorage", c10::ScalarType::Char},
    {"ByteStorage", c10::ScalarType::Byte},     {"BoolStorage", c10::ScalarType::Bool},
    {"UntypedStorage", c10::ScalarType::Byte},
};

}  // namespace

std::string storage_class_name(c10::ScalarType dtype) {
  for (const auto& [name, type] : kStorageClasses) {
    if (type == dtype && std::strcmp(name, "UntypedStorage") != 0) return name;
  }
  throw Error(cat("unsupported tensor dtype ", c10::toString(dtype)));
}

namespace {

// ---------------------------------------------------------------------------------------------
// Unpickler. Objects live as shared nodes while unpickling because pickle mutates memoised
// containers after creating them (EMPTY_DICT, BINPUT, ..., SETITEMS); the result is then copied
// into value-semantics PyValues with bounded depth and size.

enum class T { kNone, kBool, kInt, kFloat, kStr, kBytes, kList, kTuple, kDict, kTensor, kGlobal, kStorage };

struct Obj;
using Ref = std::shared_ptr<Obj>;

struct Obj {
  T t = T::kNone;
  int64_t i = 0;
  double f = 0.0;
  std::string s;  // Str, Bytes, Global ("module.name")
  std::vector<Ref> items;
  std::vector<std::pair<Ref, Ref>> entries;
  std::unordered_map<std::string, size_t> index;  // Dict: hashable key -> position in entries
  torch::Tensor tensor;                           // Tensor, or Storage bytes (uint8)
  c10::ScalarType dtype = c10::ScalarType::Byte;  // Storage
};

// Objects made by the unpickling in progress on this thread (Unpickler checks them against its
// memory budget after every opcode).
thread_local uint64_t objects_made = 0;

Ref make(T t) {
  ++objects_made;
  auto obj = std::make_shared<Obj>();
  obj->t = t;
  return obj;
}
Ref make_int(int64_t v) {
  auto obj = make(T::kInt);
  obj->i = v;
  return obj;
}
Ref make_str(T t, std::string s) {
  auto obj = make(t);
  obj->s = std::move(s);
  return obj;
}

const char* type_name(T t) {
  switch (t) {
    case T::kNone: return "None";
    case T::kBool: return "bool";
    case T::kInt: return "int";
    case T::kFloat: return "float";
    case T::kStr: return "str";
    case T::kBytes: return "bytes";
    case T::kList: return "list";
    case T::kTuple: return "tuple";
    case T::kDict: return "dict";
    case T::kTensor: return "tensor";
    case T::kGlobal: return "global";
    case T::kStorage: return "storage";
  }
  return "?";
}

// Python's dict identifies True with 1; tuples and other unhashables simply append.
bool hash_key(const Obj& key, std::string* out) {
  switch (key.t) {
    case T::kStr: *out = "s" + key.s; return true;
    case T::kBytes: *out = "b" + key.s; return true;
    case T::kInt:
    case T::kBool: *out = "i" + std::to_string(key.i); return true;
    case T::kNone: *out = "n"; return true;
    default: return false;
  }
}

// Returns the value a repeated key replaced (for the caller to dispose of), or null.
Ref dict_set(Obj& dict, Ref key, Ref value) {
  std::string hashed;
  if (hash_key(*key, &hashed)) {
    auto found = dict.index.find(hashed);
    if (found != dict.index.end()) {
      std::swap(dict.entries[found->second].second, value);
      return value;
    }
    dict.index.emplace(hashed, dict.entries.size());
  }
  dict.entries.emplace_back(std::move(key), std::move(value));
  return nullptr;
}

const char* const kAllowedGlobals[] = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2",
    "torch._tensor.Tensor",
    "torch.Tensor",
    "torch.nn.parameter.Parameter",
    "_codecs.encode",
    "builtins.set",
    "builtins.frozenset",
    "__builtin__.set",
    "__builtin__.frozenset",
};

bool storage_dtype(const std::string& global, c10::ScalarType* dtype) {
  // torch.FloatStorage (torch >= 1.x), torch.cuda.FloatStorage (old GPU saves); the class name
  // decides the dtype, the data always lands on the CPU.
  for (const char* module : {"torch.", "torch.cuda."}) {
    size_t n = std::strlen(module);
    if (global.compare(0, n, module) != 0) continue;
    std::string name = global.substr(n);
    for (const auto& [cls, type] : kStorageClasses) {
      if (name == cls) {
        *dtype = type;
        return true;
      }
    }
  }
  return false;
}

Ref make_global(const std::string& module, const std::string& name) {
  std::string full = module + "." + name;
  c10::ScalarType dtype;
  bool allowed = storage_dtype(full, &dtype);
  for (const char* g : kAllowedGlobals) allowed = allowed || full == g;
  check(allowed, "pickle refers to '", full,
        "', which is not allowed (only tensors, storages, OrderedDict and plain Python values "
        "are loaded)");
  return make_str(T::kGlobal, full);
}

int64_t checked_mul(int64_t a, int64_t b) {
  int64_t out;
  check(!__builtin_mul_overflow(a, b, &out), "size overflow");
  return out;
}

std::vector<int64_t> int_tuple(const Ref& obj, const char* what) {
  check(obj->t == T::kTuple || obj->t == T::kList, what, " must be a tuple of ints, got ",
        type_name(obj->t));
  std::vector<int64_t> out;
  for (const Ref& item : obj->items) {
    check(item->t == T::kInt, what, " must be a tuple of ints");
    out.push_back(item->i);
  }
  return out;
}

Ref rebuild_tensor(const std::vector<Ref>& args) {
  check(args.size() >= 4, "_rebuild_tensor_v2 needs at least 4 arguments, got ", args.size());
  const Obj& storage = *args[0];
  check(storage.t == T::kStorage, "_rebuild_tensor_v2: first argument is a ", type_name(storage.t),
        ", not a storage");
  check(args[1]->t == T::kInt, "_rebuild_tensor_v2: storage offset must be an int");
  int64_t offset = args[1]->i;
  std::vector<int64_t> sizes = int_tuple(args[2], "tensor size");
  std::vector<int64_t> strides = int_tuple(args[3], "tensor stride");
  check(sizes.size() == strides.size(), "tensor size has ", sizes.size(), " dims but stride has ",
        strides.size());
  check(sizes.size() <= 64, "tensor has ", sizes.size(), " dimensions");
  int64_t elem = element_size(storage.dtype);
  int64_t storage_numel = storage.tensor.numel() / elem;
  check(offset >= 0, "negative storage offset ", offset);
  // The extent a view touches must lie inside its storage: set_ would otherwise grow the storage
  // to whatever size the file claims.
  bool empty = false;
  int64_t last = 0;
  for (size_t d = 0; d < sizes.size(); ++d) {
    check(sizes[d] >= 0, "negative tensor size ", sizes[d]);
    check(strides[d] >= 0, "negative tensor stride ", strides[d]);
    if (sizes[d] == 0) empty = true;
  }
  if (!empty) {
    for (size_t d = 0; d < sizes.size(); ++d) {
      int64_t step = checked_mul(sizes[d] - 1, strides[d]);
      check(!__builtin_add_overflow(last, step, &last), "size overflow");
    }
    int64_t end;
    check(!__builtin_add_overflow(offset, last, &end), "size overflow");
    check(end < storage_numel, "tensor of size ", c10::IntArrayRef(sizes), " stride ",
          c10::IntArrayRef(strides), " at offset ", offset, " does not fit its storage of ",
          storage_numel, " elements");
  } else {
    check(offset <= storage_numel, "storage offset ", offset, " beyond storage of ",
          storage_numel, " elements");
  }
  auto out = make(T::kTensor);
  out->tensor = torch::empty({0}, torch::TensorOptions().dtype(storage.dtype))
                    .set_(storage.tensor.storage(), offset, sizes, strides);
  return out;
}

Ref call(const Ref& callable, const Ref& args_obj, int depth = 0);

Ref call_global(const std::string& name, const std::vector<Ref>& args, int depth) {
  if (name == "collections.OrderedDict") {
    auto dict = make(T::kDict);
    if (args.empty()) return dict;
    check(args.size() == 1 && (args[0]->t == T::kList || args[0]->t == T::kTuple),
          "OrderedDict arguments must be a list of pairs");
    for (const Ref& pair : args[0]->items) {
      check((pair->t == T::kTuple || pair->t == T::kList) && pair->items.size() == 2,
            "OrderedDict arguments must be a list of pairs");
      dict_set(*dict, pair->items[0], pair->items[1]);
    }
    return dict;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    return rebuild_tensor(args);
  }
  if (name == "torch._utils._rebuild_parameter" ||
      name == "torch._utils._rebuild_parameter_with_state") {
    check(!args.empty() && args[0]->t == T::kTensor, name, ": first argument must be a tensor");
    return args[0];
  }
  if (name == "torch._tensor._rebuild_from_type_v2") {
    check(args.size() >= 3 && args[0]->t == T::kGlobal && args[1]->t == T::kGlobal, name,
          ": unexpected arguments");
    const std::string& type = args[1]->s;
    check(type == "torch._tensor.Tensor" || type == "torch.Tensor" ||
              type == "torch.nn.parameter.Parameter",
          name, ": tensor subclass '", type, "' is not supported");
    return call(args[0], args[2], depth + 1);
  }
  if (name == "_codecs.encode") {
    // Protocol 2 stores bytes as encode(latin-1 text, 'latin1'): undo the UTF-8 of code points
    // 0-255.
    check(args.size() == 2 && args[0]->t == T::kStr && args[1]->t == T::kStr,
          "_codecs.encode: unexpected arguments");
    check(args[1]->s == "latin1" || args[1]->s == "latin-1", "_codecs.encode: encoding '",
          args[1]->s, "' is not supported");
    const std::string& text = args[0]->s;
    std::string bytes;
    for (size_t k = 0; k < text.size(); ++k) {
      auto c = static_cast<uint8_t>(text[k]);
      if (c < 0x80) {
        bytes.push_back(static_cast<char>(c));
      } else {
        check((c == 0xC2 || c == 0xC3) && k + 1 < text.size(), "_codecs.encode: not latin-1");
        auto c2 = static_cast<uint8_t>(text[++k]);
        bytes.push_back(static_cast<char>(((c & 0x03) << 6) | (c2 & 0x3F)));
      }
    }
    return make_str(T::kBytes, std::move(bytes));
  }
  if (name == "builtins.set" || name == "builtins.frozenset" || name == "__builtin__.set" ||
      name == "__builtin__.frozenset") {
    // Sets come back as lists.
    auto list = make(T::kList);
    if (!args.empty()) {
      check(args[0]->t == T::kList || args[0]->t == T::kTuple, name, ": expected a list");
      list->items = args[0]->items;
    }
    return list;
  }
  throw Error(cat("pickle calls '", name, "', which cannot be called"));
}

Ref call(const Ref& callable, const Ref& args_obj, int depth) {
  check(depth < 16, "pickle nests tensor rebuild calls too deeply");
  check(callable->t == T::kGlobal, "pickle calls a ", type_name(callable->t), ", not a function");
  check(args_obj->t == T::kTuple, "pickle call arguments must be a tuple, got ",
        type_name(args_obj->t));
  return call_global(callable->s, args_obj->items, depth);
}

class Unpickler {
 public:
  Unpickler(ByteSource& in, const StorageLoader& load, uint64_t memory_budget)
      : in_(in), load_(load), max_objects_(memory_budget / sizeof(Obj)) {
    objects_made = 0;
  }

  // Pickles can build arbitrarily deep or cyclic object graphs; taking them apart iteratively
  // keeps shared_ptr destructors from recursing (stack overflow) or leaking cycles.
  ~Unpickler() {
    std::vector<Ref> pending(stack_.begin(), stack_.end());
    pending.insert(pending.end(), dropped_.begin(), dropped_.end());
    for (auto& [index, obj] : memo_) pending.push_back(obj);
    stack_.clear();
    dropped_.clear();
    memo_.clear();
    std::unordered_set<Obj*> seen;
    std::vector<Ref> all;
    while (!pending.empty()) {
      Ref obj = std::move(pending.back());
      pending.pop_back();
      if (!obj || !seen.insert(obj.get()).second) continue;
      for (Ref& item : obj->items) pending.push_back(item);
      for (auto& [key, value] : obj->entries) {
        pending.push_back(key);
        pending.push_back(value);
      }
      all.push_back(std::move(obj));
    }
    for (Ref& obj : all) {
      obj->items.clear();
      obj->entries.clear();
    }
  }

  Ref run() {
    while (true) {
      uint8_t op = in_.read_u8();
      ++ops_;
      // A file of many one-byte opcodes would otherwise make ~200 bytes of objects per byte.
      check(objects_made <= max_objects_, "pickle builds more objects (", objects_made,
            ") than its file's size allows");
      switch (op) {
        case 0x80: {  // PROTO
          uint8_t proto = in_.read_u8();
          check(proto <= 5, "unsupported pickle protocol ", int(proto));
          break;
        }
        case 0x95: {  // FRAME: a hint only
          uint64_t n;
          read_le(&n, 8);
          break;
        }
        case '.':  // STOP
          check(!stack_.empty(), "pickle stops with an empty stack");
          return stack_.back();
        case 'N': push(make(T::kNone)); break;
        case 0x88:
        case 0x89: {
          auto b = make(T::kBool);
          b->i = op == 0x88;
          push(b);
          break;
        }
        case 'J': {
          int32_t v;
          read_le(&v, 4);
          push(make_int(v));
          break;
        }
        case 'K': push(make_int(in_.read_u8())); break;
        case 'M': {
          uint16_t v;
          read_le(&v, 2);
          push(make_int(v));
          break;
        }
        case 0x8a:
        case 0x8b: {  // LONG1, LONG4
          uint32_t n = 0;
          if (op == 0x8a) {
            n = in_.read_u8();
          } else {
            read_le(&n, 4);
          }
          check(n <= 8, "integer of ", n, " bytes does not fit in 64 bits");
          uint8_t bytes[8] = {0};
          in_.read(bytes, n);
          uint64_t v = 0;
          for (uint32_t k = 0; k < n; ++k) v |= uint64_t(bytes[k]) << (8 * k);
          if (n > 0 && n < 8 && (bytes[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);
          push(make_int(static_cast<int64_t>(v)));
          break;
        }
        case 'I':
        case 'L': {  // text INT / LONG (protocol 0)
          std::string line = read_line();
          if (!line.empty() && line.back() == 'L') line.pop_back();
          if (op == 'I' && (line == "00" || line == "01")) {
            auto b = make(T::kBool);
            b->i = line == "01";
            push(b);
            break;
          }
          push(make_int(parse_int(line)));
          break;
        }
        case 'G': {
          uint8_t bytes[8];
          in_.read(bytes, 8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | bytes[k];
          auto f = make(T::kFloat);
          std::memcpy(&f->f, &bits, 8);
          push(f);
          break;
        }
        case 'F': {
          std::string line = read_line();
          char* end = nullptr;
          auto f = make(T::kFloat);
          f->f = std::strtod(line.c_str(), &end);
          check(end && *end == '\0' && !line.empty(), "bad float '", line, "'");
          push(f);
          break;
        }
        case 'X': push(make_str(T::kStr, read_sized(4))); break;
        case 0x8c: push(make_str(T::kStr, read_sized(1))); break;
        case 0x8d: push(make_str(T::kStr, read_sized(8))); break;
        case 'T': push(make_str(T::kStr, read_sized(4))); break;  // BINSTRING (py2 str)
        case 'U': push(make_str(T::kStr, read_sized(1))); break;  // SHORT_BINSTRING
        case 'B': push(make_str(T::kBytes, read_sized(4))); break;
        case 'C': push(make_str(T::kBytes, read_sized(1))); break;
        case 0x8e: push(make_str(T::kBytes, read_sized(8))); break;
        case 0x96: push(make_str(T::kBytes, read_sized(8))); break;  // BYTEARRAY8
        case ']': push(make(T::kList)); break;
        case ')': push(make(T::kTuple)); break;
        case '}': push(make(T::kDict)); break;
        case 0x8f: push(make(T::kList)); break;  // EMPTY_SET, as a list
        case '(': marks_.push_back(stack_.size()); break;
        case 't': {
          auto tuple = make(T::kTuple);
          tuple->items = pop_mark();
          push(tuple);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {
          size_t n = op - 0x84;
          check(stack_.size() >= n + floor(), "stack underflow in TUPLE", n);
          auto tuple = make(T::kTuple);
          tuple->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(tuple);
          break;
        }
        case 'l':
        case 0x91: {  // LIST, FROZENSET
          auto list = make(T::kList);
          list->items = pop_mark();
          push(list);
          break;
        }
        case 'd': {
          auto items = pop_mark();
          check(items.size() % 2 == 0, "DICT with an odd number of items");
          auto dict = make(T::kDict);
          for (size_t k = 0; k < items.size(); k += 2) {
            drop(dict_set(*dict, items[k], items[k + 1]));
          }
          push(dict);
          break;
        }
        case 'a': {
          Ref value = pop();
          Ref& list = top();
          check(list->t == T::kList, "APPEND to a ", type_name(list->t));
          list->items.push_back(value);
          break;
        }
        case 'e':
        case 0x90: {  // APPENDS, ADDITEMS
          auto items = pop_mark();
          Ref& list = top();
          check(list->t == T::kList, "APPENDS to a ", type_name(list->t));
          list->items.insert(list->items.end(), items.begin(), items.end());
          break;
        }
        case 's': {
          Ref value = pop();
          Ref key = pop();
          Ref& dict = top();
          check(dict->t == T::kDict, "SETITEM on a ", type_name(dict->t));
          drop(dict_set(*dict, key, value));
          break;
        }
        case 'u': {
          auto items = pop_mark();
          check(items.size() % 2 == 0, "SETITEMS with an odd number of items");
          Ref& dict = top();
          check(dict->t == T::kDict, "SETITEMS on a ", type_name(dict->t));
          for (size_t k = 0; k < items.size(); k += 2) {
            drop(dict_set(*dict, items[k], items[k + 1]));
          }
          break;
        }
        case 'p': memo_put(parse_index(read_line())); break;
        case 'q': memo_put(in_.read_u8()); break;
        case 'r': {
          uint32_t index;
          read_le(&index, 4);
          memo_put(index);
          break;
        }
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'g': push(memo_get(parse_index(read_line()))); break;
        case 'h': push(memo_get(in_.read_u8())); break;
        case 'j': {
          uint32_t index;
          read_le(&index, 4);
          push(memo_get(index));
          break;
        }
        case '0': drop(pop()); break;
        case '1':
          for (Ref& item : pop_mark()) drop(std::move(item));
          break;
        case '2': push(top()); break;
        case 'c': {
          std::string module = read_line();
          std::string name = read_line();
          push(make_global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Ref name = pop();
          Ref module = pop();
          check(name->t == T::kStr && module->t == T::kStr, "STACK_GLOBAL needs two strings");
          push(make_global(module->s, name->s));
          break;
        }
        case 'R':
        case 0x81: {  // REDUCE, NEWOBJ
          Ref args = pop();
          Ref callable = pop();
          push(call(callable, args));
          drop(std::move(args));
          break;
        }
        case 'b': {  // BUILD: an OrderedDict's _metadata attribute or a tensor's Python state
          Ref state = pop();
          drop(std::move(state));
          Ref& obj = top();
          check(obj->t == T::kDict || obj->t == T::kTensor, "BUILD on a ", type_name(obj->t));
          break;
        }
        case 'Q': {
          Ref pid = pop();
          push(persistent_load(pid));
          break;
        }
        case 'P': {
          throw Error("text persistent ids (PERSID) are not supported");
        }
        default:
          throw Error(cat("unsupported pickle opcode 0x", std::hex, int(op)));
      }
    }
  }

  uint64_t ops() const { return ops_; }

 private:
  void read_le(void* out, int n) {
    uint8_t bytes[8];
    in_.read(bytes, n);
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | bytes[k];
    std::memcpy(out, &v, n);  // little-endian host
  }

  std::string read_sized(int length_bytes) {
    uint64_t n = 0;
    if (length_bytes == 1) {
      n = in_.read_u8();
    } else {
      read_le(&n, length_bytes);
    }
    check(n <= in_.remaining(), "truncated data (string of ", n, " bytes, ", in_.remaining(),
          " left)");
    std::string out(n, '\0');
    in_.read(out.data(), n);
    return out;
  }

  std::string read_line() {
    std::string line;
    while (true) {
      char c = static_cast<char>(in_.read_u8());
      if (c == '\n') break;
      line.push_back(c);
      check(line.size() < 4096, "text line too long in pickle");
    }
    return line;
  }

  static int64_t parse_int(const std::string& text) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    check(!text.empty() && end && *end == '\0' && errno == 0, "bad integer '", text, "'");
    return v;
  }
  static uint64_t parse_index(const std::string& text) {
    int64_t v = parse_int(text);
    check(v >= 0, "bad memo index ", v);
    return static_cast<uint64_t>(v);
  }

  // Everything that leaves the stack is also kept here, so that only the destructor frees
  // objects (iteratively), even when an exception unwinds locals.
  void drop(Ref obj) {
    if (obj) dropped_.push_back(std::move(obj));
  }
  void memo_put(uint64_t index) {
    Ref& slot = memo_[index];
    drop(std::move(slot));
    slot = top();
  }

  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Ref obj) { stack_.push_back(std::move(obj)); }
  Ref pop() {
    check(stack_.size() > floor(), "pickle stack underflow");
    Ref out = std::move(stack_.back());
    stack_.pop_back();
    dropped_.push_back(out);
    return out;
  }
  Ref& top() {
    check(stack_.size() > floor(), "pickle stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    check(!marks_.empty(), "pickle MARK missing");
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    dropped_.insert(dropped_.end(), items.begin(), items.end());
    return items;
  }
  Ref memo_get(uint64_t index) {
    auto found = memo_.find(index);
    check(found != memo_.end(), "pickle memo entry ", index, " is missing");
    return found->second;
  }

  Ref persistent_load(const Ref& pid) {
    check(pid->t == T::kTuple && !pid->items.empty(), "persistent id must be a tuple");
    const auto& items = pid->items;
    check(items[0]->t == T::kStr && items[0]->s == "storage", "persistent id of type '",
          items[0]->s, "' is not supported (only storages)");
    check(items.size() == 5 || items.size() == 6, "storage persistent id has ", items.size(),
          " fields");
    StorageId id;
    check(items[1]->t == T::kGlobal && storage_dtype(items[1]->s, &id.dtype),
          "persistent id names no storage type");
    check(items[2]->t == T::kStr, "storage key must be a string");
    id.key = items[2]->s;
    check(items[3]->t == T::kStr, "storage location must be a string");
    id.location = items[3]->s;
    check(items[4]->t == T::kInt && items[4]->i >= 0, "storage size must be a non-negative int");
    id.numel = items[4]->i;
    if (items.size() == 6) {
      check(items[5]->t == T::kNone, "storage views (legacy view_metadata) are not supported");
    }
    auto cached = storages_.find(id.key);
    if (cached != storages_.end()) {
      check(cached->second->dtype == id.dtype, "storage '", id.key,
            "' is used with two dtypes");
      return cached->second;
    }
    auto storage = make(T::kStorage);
    storage->dtype = id.dtype;
    storage->tensor = load_(id);
    check(storage->tensor.numel() == checked_mul(id.numel, element_size(id.dtype)),
          "storage '", id.key, "' has the wrong size");
    storages_.emplace(id.key, storage);
    return storage;
  }

  ByteSource& in_;
  const StorageLoader& load_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
  std::unordered_map<std::string, Ref> storages_;
  std::vector<Ref> dropped_;
  uint64_t ops_ = 0;
  uint64_t max_objects_;
};

class Converter {
 public:
  explicit Converter(uint64_t budget) : budget_(budget) {}

  PyValue convert(const Ref& obj, int depth) {
    check(depth < 200, "pickled value nested too deeply (or recursive)");
    check(budget_-- > 0, "pickled value too large (shared references expand too much)");
    switch (obj->t) {
      case T::kNone: return PyValue();
      case T::kBool: return PyValue(obj->i != 0);
      case T::kInt: return PyValue(static_cast<int64_t>(obj->i));
      case T::kFloat: return PyValue(obj->f);
      case T::kStr: return PyValue(obj->s);
      case T::kBytes: return PyValue::bytes(obj->s);
      case T::kTensor: return PyValue(obj->tensor);
      case T::kList:
      case T::kTuple: {
        PyValue::Items items;
        items.reserve(obj->items.size());
        for (const Ref& item : obj->items) items.push_back(convert(item, depth + 1));
        return obj->t == T::kList ? PyValue::list(std::move(items))
                                 : PyValue::tuple(std::move(items));
      }
      case T::kDict: {
        PyValue::Entries entries;
        entries.reserve(obj->entries.size());
        for (const auto& [key, value] : obj->entries) {
          entries.emplace_back(convert(key, depth + 1), convert(value, depth + 1));
        }
        return PyValue::dict(std::move(entries));
      }
      case T::kGlobal: throw Error(cat("pickle holds the class '", obj->s, "' as a value"));
      case T::kStorage: throw Error("pickle holds a bare storage; only tensors are supported");
    }
    throw Error("bad pickle value");
  }

 private:
  uint64_t budget_;
};

}  // namespace

// Half of the rule's 16x (and of its 1 MiB): the file's bytes, the zip's records and the
// storages need the rest.
uint64_t unpickle_budget(uint64_t file_size) { return 8 * file_size + (uint64_t{1} << 19); }

PyValue unpickle(ByteSource& in, const StorageLoader& load_storage, uint64_t memory_budget) {
  Unpickler unpickler(in, load_storage, memory_budget);
  Ref result = unpickler.run();
  // Shared references expand into copies: a few per opcode at most (legitimate files share
  // little: repeated names and storages), and never beyond the memory budget.
  Converter converter(
      std::min<uint64_t>(4 * unpickler.ops() + 4096, memory_budget / sizeof(PyValue)));
  return converter.convert(result, 0);
}

// ---------------------------------------------------------------------------------------------
// Pickler (protocol 2), the layout torch.save produces.

namespace {

class Pickler {
 public:
  Pickler(bool ordered_dicts, const std::function<std::string(const torch::Tensor&)>& add)
      : ordered_dicts_(ordered_dicts), add_storage_(add) {}

  std::string run(const PyValue& value) {
    out_ += "\x80\x02";
    write(value, 0);
    out_ += '.';
    return std::move(out_);
  }

 private:
  void write(const PyValue& value, int depth) {
    check(depth < 200, "value nested too deeply to write");
    switch (value.kind()) {
      case PyValue::Kind::kNone: out_ += 'N'; break;
      case PyValue::Kind::kBool: out_ += value.as_bool() ? '\x88' : '\x89'; break;
      case PyValue::Kind::kInt: write_int(value.as_int()); break;
      case PyValue::Kind::kFloat: write_float(value.as_float()); break;
      case PyValue::Kind::kString: write_str(value.as_string()); break;
      case PyValue::Kind::kBytes: {
        // Protocol 2 has no bytes opcode: Python itself writes _codecs.encode(latin-1, 'latin1').
        std::string text;
        for (unsigned char c : value.as_string()) {
          if (c < 0x80) {
            text.push_back(static_cast<char>(c));
          } else {
            text.push_back(static_cast<char>(0xC0 | (c >> 6)));
            text.push_back(static_cast<char>(0x80 | (c & 0x3F)));
          }
        }
        out_ += "c_codecs\nencode\n";
        write_str(text);
        write_str("latin1");
        out_ += "\x86R";
        break;
      }
      case PyValue::Kind::kList:
        out_ += "](";
        for (const PyValue& item : value.items()) write(item, depth + 1);
        out_ += 'e';
        break;
      case PyValue::Kind::kTuple:
        out_ += '(';
        for (const PyValue& item : value.items()) write(item, depth + 1);
        out_ += 't';
        break;
      case PyValue::Kind::kDict:
        if (ordered_dicts_) {
          out_ += "ccollections\nOrderedDict\n)R(";
        } else {
          out_ += "}(";
        }
        for (const auto& [key, item] : value.entries()) {
          write(key, depth + 1);
          write(item, depth + 1);
        }
        out_ += 'u';
        break;
      case PyValue::Kind::kTensor: write_tensor(value.as_tensor()); break;
    }
  }

  void write_int(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      out_ += static_cast<char>(v);
    } else if (v >= 0 && v < 65536) {
      out_ += 'M';
      out_ += static_cast<char>(v & 0xFF);
      out_ += static_cast<char>(v >> 8);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';
      append_le(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    } else {
      out_ += "\x8a\x08";
      append_le(static_cast<uint64_t>(v), 8);
    }
  }

  void write_float(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    out_ += 'G';
    for (int k = 7; k >= 0; --k) out_ += static_cast<char>((bits >> (8 * k)) & 0xFF);
  }

  void write_str(const std::string& s) {
    check(s.size() <= UINT32_MAX, "string too long to pickle");
    out_ += 'X';
    append_le(s.size(), 4);
    out_ += s;
  }

  void append_le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) out_ += static_cast<char>((v >> (8 * k)) & 0xFF);
  }

  void write_tensor(const torch::Tensor& tensor) {
    check(tensor.defined(), "cannot write an undefined tensor");
    torch::Tensor data = tensor.detach().to(torch::kCPU).contiguous();
    std::string cls = storage_class_name(data.scalar_type());
    std::string key = add_storage_(data);
    out_ += "ctorch._utils\n_rebuild_tensor_v2\n(";
    // Persistent id ('storage', torch.FloatStorage, key, 'cpu', numel).
    out_ += '(';
    write_str("storage");
    out_ += "ctorch\n" + cls + "\n";
    write_str(key);
    write_str("cpu");
    write_int(data.numel());
    out_ += "tQ";
    write_int(0);  // storage offset
    out_ += '(';
    for (int64_t s : data.sizes()) write_int(s);
    out_ += "t(";
    for (int64_t s : data.strides()) write_int(s);
    out_ += 't';
    out_ += '\x89';                                // requires_grad
    out_ += "ccollections\nOrderedDict\n)R";  // backward hooks
    out_ += "tR";
  }

  bool ordered_dicts_;
  const std::function<std::string(const torch::Tensor&)>& add_storage_;
  std::string out_;
};

}  // namespace

std::string pickle(const PyValue& value, bool ordered_dicts,
                   const std::function<std::string(const torch::Tensor&)>& add_storage) {
  return Pickler(ordered_dicts, add_storage).run(value);
}

}  // namespace glpdepth::detail
