// The small part of the zip format PyTorch uses: uncompressed (STORED) records, zip64 for large
// files. Private to glpdepth_io; errors are thrown without the file name.
#pragma once
#include <cstdint>
#include <fstream>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

namespace glpdepth::detail {

uint32_t crc32(uint32_t crc, const void* data, size_t n);

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;
  uint64_t size = 0;
  uint32_t crc = 0;
};

class ZipReader {
 public:
  // Parses the central directory; every entry's data is checked to lie inside the file and to
  // be stored uncompressed.
  ZipReader(std::ifstream& in, uint64_t file_size);
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;
  // Reads a record and checks its CRC.
  std::string read(const ZipEntry& entry);
  void read_into(const ZipEntry& entry, void* destination);

 private:
  std::ifstream& in_;
  uint64_t file_size_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// Writes records with their data aligned to 64 bytes (as PyTorch does, so readers may map them).
class ZipWriter {
 public:
  explicit ZipWriter(std::ostream& out) : out_(out) {}
  void add(const std::string& name, const void* data, uint64_t size);
  void finish();

 private:
  struct Record {
    std::string name;
    uint64_t header_offset;
    uint64_t size;
    uint32_t crc;
  };
  void put(const void* data, uint64_t n);
  std::ostream& out_;
  uint64_t offset_ = 0;
  std::vector<Record> records_;
};

}  // namespace glpdepth::detail
