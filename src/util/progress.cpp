#include "glpdepth/util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace glpdepth {

bool stderr_is_terminal() { return isatty(fileno(stderr)) == 1; }

std::string format_seconds(double seconds) {
  char buffer[64];
  if (seconds < 60) {
    std::snprintf(buffer, sizeof(buffer), "%.1f s", seconds);
  } else if (seconds < 3600) {
    int s = static_cast<int>(seconds + 0.5);
    std::snprintf(buffer, sizeof(buffer), "%d min %02d s", s / 60, s % 60);
  } else {
    int m = static_cast<int>(seconds / 60 + 0.5);
    std::snprintf(buffer, sizeof(buffer), "%d h %02d min", m / 60, m % 60);
  }
  return buffer;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%02lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buffer;
}

ProgressReporter::ProgressReporter(std::ostream& out, int64_t total, ProgressOptions options)
    : out_(out), total_(std::max<int64_t>(total, 0)), options_(std::move(options)) {
  start_ = last_print_ = Clock::now();
}

double ProgressReporter::elapsed_seconds() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

std::string ProgressReporter::format(int64_t done, const std::string& fields, double elapsed_s,
                                     double run_remaining_s) const {
  std::ostringstream line;
  if (!options_.label.empty()) line << options_.label << " ";
  if (options_.terminal && total_ > 0) {
    const int width = std::max(1, options_.bar_width);
    const auto filled =
        static_cast<int>(std::min<int64_t>(width, done * width / std::max<int64_t>(total_, 1)));
    line << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] ";
  }
  line << done;
  if (total_ > 0) line << "/" << total_;
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  line << std::fixed << std::setprecision(2) << " " << rate << " " << options_.unit << "/s";
  if (total_ > 0) {
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1.0;
    line << " elapsed " << format_duration(elapsed_s) << " eta " << format_duration(eta);
  }
  if (run_remaining_s >= 0) line << " (run eta " << format_duration(run_remaining_s) << ")";
  if (!fields.empty()) line << " " << fields;
  return line.str();
}

void ProgressReporter::update(int64_t done, const std::string& fields, double run_remaining_s) {
  update(done, fields, run_remaining_s, Clock::now());
}

void ProgressReporter::update(int64_t done, const std::string& fields, double run_remaining_s,
                              Clock::time_point now) {
  done_ = done;
  fields_ = fields;
  run_remaining_ = run_remaining_s;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (options_.terminal) {
    if (printed_any_ && since_print < 0.1 && done < total_) return;
    out_ << '\r' << format(done, fields, elapsed, run_remaining_s) << "\x1b[K" << std::flush;
  } else {
    const bool by_steps =
        options_.every_steps > 0 && done - last_step_printed_ >= options_.every_steps;
    const bool by_time = options_.every_seconds > 0 && since_print >= options_.every_seconds;
    if (!by_steps && !by_time) return;
    out_ << format(done, fields, elapsed, run_remaining_s) << '\n' << std::flush;
  }
  printed_any_ = true;
  last_print_ = now;
  last_step_printed_ = done;
}

void ProgressReporter::finish() { finish(Clock::now()); }

void ProgressReporter::finish(Clock::time_point now) {
  if (finished_) return;
  finished_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (options_.terminal) {
    out_ << '\r' << format(done_, fields_, elapsed, run_remaining_) << "\x1b[K\n" << std::flush;
  } else if (done_ != last_step_printed_ || !printed_any_) {
    out_ << format(done_, fields_, elapsed, run_remaining_) << '\n' << std::flush;
  }
}

}  // namespace glpdepth
