#include "io/zip.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "glpdepth/util/atomic_file.h"
#include "glpdepth/util/error.h"

namespace glpdepth::detail {

namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  return table;
}

uint64_t get_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

void put_le(std::string& out, uint64_t v, int n) {
  for (int k = 0; k < n; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

void read_at(std::ifstream& in, uint64_t file_size, uint64_t offset, void* out, uint64_t n) {
  check(offset <= file_size && n <= file_size - offset, "truncated zip (", n, " bytes at ", offset,
        " past the end of ", file_size, ")");
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
  check(static_cast<uint64_t>(in.gcount()) == n, "read failed at byte ", offset);
}

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;

}  // namespace

uint32_t crc32(uint32_t crc, const void* data, size_t n) {
  const auto& table = crc_table();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t k = 0; k < n; ++k) crc = table[(crc ^ p[k]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

ZipReader::ZipReader(std::ifstream& in, uint64_t file_size) : in_(in), file_size_(file_size) {
  check(file_size >= 22, "too small for a zip file");
  uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535 + 20);
  std::vector<uint8_t> tail(tail_size);
  read_at(in, file_size, file_size - tail_size, tail.data(), tail_size);
  int64_t end_pos = -1;
  for (int64_t p = static_cast<int64_t>(tail_size) - 22; p >= 0; --p) {
    if (get_le(&tail[p], 4) == kEndSig) {
      end_pos = p;
      break;
    }
  }
  check(end_pos >= 0, "no zip end-of-central-directory record");
  const uint8_t* end = &tail[end_pos];
  uint64_t count = get_le(end + 10, 2);
  uint64_t cd_size = get_le(end + 12, 4);
  uint64_t cd_offset = get_le(end + 16, 4);
  if ((count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) && end_pos >= 20 &&
      get_le(end - 20, 4) == kEnd64LocatorSig) {
    uint64_t end64_offset = get_le(end - 20 + 8, 8);
    uint8_t end64[56];
    read_at(in, file_size, end64_offset, end64, 56);
    check(get_le(end64, 4) == kEnd64Sig, "bad zip64 end-of-central-directory record");
    count = get_le(end64 + 32, 8);
    cd_size = get_le(end64 + 40, 8);
    cd_offset = get_le(end64 + 48, 8);
  }
  check(cd_offset <= file_size && cd_size <= file_size - cd_offset,
        "zip central directory lies outside the file");
  check(count <= cd_size / 46, "zip claims ", count, " entries in a ", cd_size,
        "-byte central directory");
  std::vector<uint8_t> cd(cd_size);
  read_at(in, file_size, cd_offset, cd.data(), cd_size);
  uint64_t pos = 0;
  for (uint64_t k = 0; k < count; ++k) {
    check(pos + 46 <= cd_size, "truncated zip central directory");
    const uint8_t* h = &cd[pos];
    check(get_le(h, 4) == kCentralSig, "bad zip central directory entry ", k);
    uint64_t flags = get_le(h + 8, 2);
    uint64_t method = get_le(h + 10, 2);
    uint32_t crc = static_cast<uint32_t>(get_le(h + 16, 4));
    uint64_t compressed = get_le(h + 20, 4);
    uint64_t size = get_le(h + 24, 4);
    uint64_t name_len = get_le(h + 28, 2);
    uint64_t extra_len = get_le(h + 30, 2);
    uint64_t comment_len = get_le(h + 32, 2);
    uint64_t local_offset = get_le(h + 42, 4);
    check(pos + 46 + name_len + extra_len + comment_len <= cd_size,
          "truncated zip central directory");
    std::string name(reinterpret_cast<const char*>(h + 46), name_len);
    // zip64 sizes and offset live in extra field 0x0001, in this order, when saturated.
    const uint8_t* extra = h + 46 + name_len;
    for (uint64_t e = 0; e + 4 <= extra_len;) {
      uint64_t id = get_le(extra + e, 2);
      uint64_t len = get_le(extra + e + 2, 2);
      check(e + 4 + len <= extra_len, "bad zip extra field in '", name, "'");
      if (id == 1) {
        const uint8_t* z = extra + e + 4;
        uint64_t used = 0;
        auto take = [&](uint64_t* value) {
          if (*value != 0xFFFFFFFF) return;
          check(used + 8 <= len, "bad zip64 extra field in '", name, "'");
          *value = get_le(z + used, 8);
          used += 8;
        };
        take(&size);
        take(&compressed);
        take(&local_offset);
      }
      e += 4 + len;
    }
    check((flags & 1) == 0, "zip entry '", name, "' is encrypted");
    check(method == 0, "zip entry '", name, "' is compressed (method ", method,
          "); only uncompressed (stored) entries, as torch.save writes, are supported");
    check(compressed == size, "zip entry '", name, "' has inconsistent sizes");
    uint8_t local[30];
    read_at(in, file_size, local_offset, local, 30);
    check(get_le(local, 4) == kLocalSig, "bad zip local header for '", name, "'");
    uint64_t data_offset = local_offset + 30 + get_le(local + 26, 2) + get_le(local + 28, 2);
    check(data_offset <= file_size && size <= file_size - data_offset, "zip entry '", name,
          "' (", size, " bytes) extends past the end of the file");
    index_.emplace(name, entries_.size());
    entries_.push_back({name, data_offset, size, crc});
    pos += 46 + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  auto found = index_.find(name);
  return found == index_.end() ? nullptr : &entries_[found->second];
}

std::string ZipReader::read(const ZipEntry& entry) {
  std::string out(entry.size, '\0');
  read_into(entry, out.data());
  return out;
}

void ZipReader::read_into(const ZipEntry& entry, void* destination) {
  read_at(in_, file_size_, entry.data_offset, destination, entry.size);
  check(crc32(0, destination, entry.size) == entry.crc, "zip entry '", entry.name,
        "' is corrupt (CRC mismatch)");
}

void ZipWriter::put(const void* data, uint64_t n) {
  errno = 0;  // the stream only says that it failed; errno says why (disk full, ...)
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  check(static_cast<bool>(out_), "write failed: ", errno_text());
  offset_ += n;
}

void ZipWriter::add(const std::string& name, const void* data, uint64_t size) {
  uint32_t crc = crc32(0, data, size);
  check(offset_ < 0xFFFFFFFFull && size < 0xFFFFFFFFull,
        "file too large: over 4 GiB needs zip64, which the writer does not do");
  // Pad with an extra field so the data starts on a 64-byte boundary.
  uint64_t start = offset_ + 30 + name.size() + 4;
  uint64_t pad = (64 - start % 64) % 64;
  std::string header;
  put_le(header, kLocalSig, 4);
  put_le(header, 20, 2);      // version needed
  put_le(header, 0, 2);       // flags
  put_le(header, 0, 2);       // stored
  put_le(header, 0, 2);       // time
  put_le(header, 0x21, 2);    // date 1980-01-01
  put_le(header, crc, 4);
  put_le(header, size, 4);
  put_le(header, size, 4);
  put_le(header, name.size(), 2);
  put_le(header, 4 + pad, 2);
  header += name;
  put_le(header, 0x4246, 2);  // "FB", PyTorch's padding field id
  put_le(header, pad, 2);
  header.append(pad, 'Z');
  records_.push_back({name, offset_, size, crc});
  put(header.data(), header.size());
  put(data, size);
}

void ZipWriter::finish() {
  uint64_t cd_offset = offset_;
  std::string cd;
  for (const Record& r : records_) {
    put_le(cd, kCentralSig, 4);
    put_le(cd, 20, 2);  // made by
    put_le(cd, 20, 2);  // needed
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0x21, 2);
    put_le(cd, r.crc, 4);
    put_le(cd, r.size, 4);
    put_le(cd, r.size, 4);
    put_le(cd, r.name.size(), 2);
    put_le(cd, 0, 2);  // extra
    put_le(cd, 0, 2);  // comment
    put_le(cd, 0, 2);  // disk
    put_le(cd, 0, 2);  // internal attributes
    put_le(cd, 0, 4);  // external attributes
    put_le(cd, r.header_offset, 4);
    cd += r.name;
  }
  check(records_.size() < 0xFFFF && cd_offset + cd.size() < 0xFFFFFFFFull,
        "file too large: over 4 GiB needs zip64, which the writer does not do");
  put_le(cd, kEndSig, 4);
  put_le(cd, 0, 2);
  put_le(cd, 0, 2);
  put_le(cd, records_.size(), 2);
  put_le(cd, records_.size(), 2);
  put_le(cd, cd.size() - 0, 4);  // fixed below
  put_le(cd, cd_offset, 4);
  put_le(cd, 0, 2);
  // Central directory size excludes the 22-byte end record itself.
  uint64_t cd_size = cd.size() - 22;
  for (int k = 0; k < 4; ++k) cd[cd.size() - 10 + k] = static_cast<char>((cd_size >> (8 * k)) & 0xFF);
  put(cd.data(), cd.size());
  out_.flush();
  check(static_cast<bool>(out_), "write failed");
}

}  // namespace glpdepth::detail
