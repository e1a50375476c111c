#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "glpdepth/train/log.h"
#include "glpdepth/util/error.h"
#include "train_test_util.h"

namespace glpdepth {
namespace {
namespace fs = std::filesystem;

TEST(CsvWriter, HeaderOnceRowsFlushedAndAppendOnResume) {
  test::TempDir tmp;
  const fs::path path = tmp.path() / "run" / "train.csv";
  {
    CsvWriter csv(path, {"epoch", "loss", "note"});
    csv.row(std::vector<double>{1, 0.25, 3});
    // Flushed: visible before the writer goes away.
    EXPECT_EQ(test::read_text(path), "epoch,loss,note\n1,0.25,3\n");
    csv.row(std::vector<std::string>{"2", "nan", "a, \"b\""});
    EXPECT_THROW(csv.row(std::vector<double>{1}), Error);
  }
  {
    CsvWriter again(path, {"epoch", "loss", "note"});
    again.row(std::vector<double>{3, NAN, -INFINITY});
  }
  EXPECT_EQ(test::read_text(path),
            "epoch,loss,note\n1,0.25,3\n2,nan,\"a, \"\"b\"\"\"\n3,nan,-inf\n");
  EXPECT_THROW(CsvWriter(path, {"epoch", "loss"}), Error);
}

// A killed run logged steps 4 and 5 after its checkpoint at step 3, the last row only half.
TEST(CsvWriter, RowsAfterACheckpointAreDroppedBeforeTheyAreDoneAgain) {
  test::TempDir tmp;
  const fs::path path = tmp.path() / "train.csv";
  test::write_text(path, "step,epoch,loss\n1,1,0.5\n2,1,0.4\n3,2,0.3\n4,2,0.2\n5,2,0.");
  EXPECT_EQ(drop_csv_rows_after(path, 0, 3), 2);
  EXPECT_EQ(test::read_text(path), "step,epoch,loss\n1,1,0.5\n2,1,0.4\n3,2,0.3\n");
  EXPECT_EQ(drop_csv_rows_after(path, 0, 3), 0);  // nothing after step 3 any more
  // Another column (metrics.csv: epoch, step, ...); a row cut before that column goes too.
  test::write_text(path, "epoch,step,abs_rel\n1,4,0.3\n2,8,0.2\n3\n");
  EXPECT_EQ(drop_csv_rows_after(path, 1, 4), 2);
  EXPECT_EQ(test::read_text(path), "epoch,step,abs_rel\n1,4,0.3\n");
  EXPECT_EQ(drop_csv_rows_after(tmp.path() / "missing.csv", 0, 1), 0);
  EXPECT_FALSE(fs::exists(tmp.path() / "missing.csv"));
}

TEST(ProgressFields, LossAndLrAsTheTrainingBarShowsThem) {
  EXPECT_EQ(loss_lr_fields(0.5, 1e-4), "loss 0.5 lr 1.000e-04");
  EXPECT_EQ(loss_lr_fields(0.25, 3e-5), "loss 0.25 lr 3.000e-05");
}

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the standard check value
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4
  // Incremental equals one-shot.
  EXPECT_EQ(crc32c("6789", crc32c("12345")), crc32c("123456789"));
}

// An independent reader: pure-Python CRC-32C, TFRecord framing and protobuf wire parsing.
const char* kEventReader = R"PY(
import struct, sys
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF
def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]; i += 1
        value |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80: return value, i
def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0: v, i = varint(buf, i)
        elif wire == 1: v = buf[i:i+8]; i += 8
        elif wire == 5: v = buf[i:i+4]; i += 4
        elif wire == 2:
            n, i = varint(buf, i); v = buf[i:i+n]; i += n
        else: raise ValueError('wire type %d' % wire)
        yield num, wire, v
data = open(sys.argv[1], 'rb').read()
pos = 0
while pos < len(data):
    header = data[pos:pos+8]
    (length,) = struct.unpack('<Q', header)
    (hcrc,) = struct.unpack('<I', data[pos+8:pos+12])
    assert hcrc == masked(header), 'length crc'
    body = data[pos+12:pos+12+length]
    (bcrc,) = struct.unpack('<I', data[pos+12+length:pos+16+length])
    assert bcrc == masked(body), 'data crc'
    pos += 16 + length
    wall, step, version, scalars = None, 0, None, []
    for num, wire, v in fields(body):
        if num == 1: wall = struct.unpack('<d', v)[0]
        elif num == 2: step = v - (1 << 64) if v >= 1 << 63 else v
        elif num == 3: version = v.decode()
        elif num == 5:
            for snum, _, sv in fields(v):
                assert snum == 1
                tag, value = None, None
                for vnum, vwire, vv in fields(sv):
                    if vnum == 1: tag = vv.decode()
                    elif vnum == 2 and vwire == 5: value = struct.unpack('<f', vv)[0]
                scalars.append((tag, value))
    if version is not None: print('version', version, repr(wall))
    for tag, value in scalars: print('scalar', repr(tag), step, repr(value), repr(wall))
assert pos == len(data)
print('end')
)PY";

TEST(TensorBoardWriter, IndependentReaderSeesEveryScalar) {
  test::TempDir tmp;
  fs::path file;
  {
    TensorBoardWriter tb(tmp.path() / "tb");
    file = tb.path();
    tb.add_scalar("Training loss", 0.5, 1, 1700000000.25);
    tb.add_scalar("Val loss", 0.125, 300, 1700000001.5);
    tb.add_scalar("d1", -3.75, 123456789012, 1700000002.0);
    tb.add_scalar("lr", 1e-4, 0, 1700000003.0);
    // Flushed per write: the file is complete while the writer is open.
    const std::string bytes = test::read_text(file);
    EXPECT_GT(bytes.size(), 4 * 16u);
  }
  const std::string name = file.filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_EQ(file.parent_path(), tmp.path() / "tb");
  // A second writer in the same second gets its own file.
  TensorBoardWriter other(tmp.path() / "tb");
  EXPECT_NE(other.path(), file);

  const std::string python = test::test_python();
  if (python.empty()) GTEST_SKIP() << "no Python at " << GLPDEPTH_TEST_PYTHON;
  const std::string out =
      test::run_python(tmp.path(), "read_events.py", kEventReader, "'" + file.string() + "'");
  std::istringstream lines(out);
  std::string line;
  std::vector<std::string> got;
  while (std::getline(lines, line)) got.push_back(line);
  ASSERT_EQ(got.size(), 6u) << out;
  EXPECT_EQ(got[0].rfind("version brain.Event:2 ", 0), 0u) << got[0];
  EXPECT_EQ(got[1], "scalar 'Training loss' 1 0.5 1700000000.25");
  EXPECT_EQ(got[2], "scalar 'Val loss' 300 0.125 1700000001.5");
  EXPECT_EQ(got[3], "scalar 'd1' 123456789012 -3.75 1700000002.0");
  // Stored as float32, as TensorBoard does.
  EXPECT_EQ(got[4], "scalar 'lr' 0 " + std::string("9.999999747378752e-05") + " 1700000003.0");
  EXPECT_EQ(got[5], "end");
  // The version event's wall time is "now".
  const double wall = std::stod(got[0].substr(std::string("version brain.Event:2 ").size()));
  EXPECT_GT(wall, 1.6e9);
}

}  // namespace
}  // namespace glpdepth
