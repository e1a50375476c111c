// Deterministic randomness for the scene generator and textures. std::uniform_real_distribution
// and friends are implementation-defined, so their output differs between standard libraries;
// these helpers use only mt19937_64's raw output (fixed by the standard) and integer hashes.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

namespace glpdepth::synth {

inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Independent stream `tag` of `seed` (drive d of dataset seed s, texture of object k, ...).
inline uint64_t derive_seed(uint64_t seed, uint64_t tag) {
  return mix64(mix64(seed) ^ mix64(tag + 0x51ed));
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t bits() { return engine_(); }
  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Integer in [lo, hi].
  int integer(int lo, int hi) {
    return lo + static_cast<int>(engine_() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool chance(double p) { return uniform() < p; }
  // Log-uniform in [lo, hi]: sizes where small values are as common as large ones per octave.
  double log_uniform(double lo, double hi) { return lo * std::exp(uniform() * std::log(hi / lo)); }

 private:
  std::mt19937_64 engine_;
};

// Hash of lattice coordinates to [0, 1); cheap because textures call it millions of times.
inline float hash01(int32_t x, int32_t y, int32_t z, uint32_t seed) {
  uint32_t h = static_cast<uint32_t>(x) * 0x8da6b343u ^ static_cast<uint32_t>(y) * 0xd8163841u ^
               static_cast<uint32_t>(z) * 0xcb1ab31fu ^ seed;
  h = (h ^ (h >> 16)) * 0x7feb352du;
  h = (h ^ (h >> 15)) * 0x846ca68bu;
  h ^= h >> 16;
  return static_cast<float>(h >> 8) * 0x1.0p-24f;
}

inline float smooth(float t) {
  return t * t * (3.0f - 2.0f * t);
}
inline float lerp(float a, float b, float t) {
  return a + (b - a) * t;
}

// Bilinear value noise in [0, 1), lattice spacing 1 (textures on planes).
inline float value_noise(double x, double y, uint32_t seed) {
  double fx = std::floor(x), fy = std::floor(y);
  auto ix = static_cast<int32_t>(static_cast<int64_t>(fx)),
       iy = static_cast<int32_t>(static_cast<int64_t>(fy));
  float tx = smooth(static_cast<float>(x - fx)), ty = smooth(static_cast<float>(y - fy));
  return lerp(lerp(hash01(ix, iy, 0, seed), hash01(ix + 1, iy, 0, seed), tx),
              lerp(hash01(ix, iy + 1, 0, seed), hash01(ix + 1, iy + 1, 0, seed), tx), ty);
}

// Trilinear value noise in [0, 1) (textures on curved surfaces).
inline float value_noise(double x, double y, double z, uint32_t seed) {
  double fx = std::floor(x), fy = std::floor(y), fz = std::floor(z);
  auto ix = static_cast<int32_t>(static_cast<int64_t>(fx)),
       iy = static_cast<int32_t>(static_cast<int64_t>(fy)),
       iz = static_cast<int32_t>(static_cast<int64_t>(fz));
  float tx = smooth(static_cast<float>(x - fx)), ty = smooth(static_cast<float>(y - fy)),
        tz = smooth(static_cast<float>(z - fz));
  float c[2][2];
  for (int dy = 0; dy < 2; ++dy)
    for (int dz = 0; dz < 2; ++dz)
      c[dy][dz] =
          lerp(hash01(ix, iy + dy, iz + dz, seed), hash01(ix + 1, iy + dy, iz + dz, seed), tx);
  return lerp(lerp(c[0][0], c[1][0], ty), lerp(c[0][1], c[1][1], ty), tz);
}

// How much of an octave of this wavelength survives at this pixel footprint (metres per pixel):
// octaves finer than the footprint fade to their mean, so far surfaces turn smooth instead of
// aliasing, and the fading itself is a texture-gradient depth cue.
inline float octave_weight(double wavelength, double footprint) {
  return static_cast<float>(std::clamp(wavelength / (2.0 * footprint) - 0.5, 0.0, 1.0));
}

// Fractal noise in [0, 1) on a plane.
inline float fbm(double x, double y, double frequency, int octaves, double footprint,
                 uint32_t seed) {
  float sum = 0.0f, norm = 0.0f, amplitude = 1.0f;
  for (int o = 0; o < octaves; ++o) {
    float keep = octave_weight(1.0 / frequency, footprint);
    float n = keep > 0.0f ? value_noise(x * frequency, y * frequency, seed + o) : 0.5f;
    sum += amplitude * (keep * n + (1.0f - keep) * 0.5f);
    norm += amplitude;
    amplitude *= 0.55f;
    frequency *= 2.03;
  }
  return sum / norm;
}

// Fractal noise in [0, 1) in space.
inline float fbm(double x, double y, double z, double frequency, int octaves, double footprint,
                 uint32_t seed) {
  float sum = 0.0f, norm = 0.0f, amplitude = 1.0f;
  for (int o = 0; o < octaves; ++o) {
    float keep = octave_weight(1.0 / frequency, footprint);
    float n =
        keep > 0.0f ? value_noise(x * frequency, y * frequency, z * frequency, seed + o) : 0.5f;
    sum += amplitude * (keep * n + (1.0f - keep) * 0.5f);
    norm += amplitude;
    amplitude *= 0.55f;
    frequency *= 2.03;
  }
  return sum / norm;
}

}  // namespace glpdepth::synth
