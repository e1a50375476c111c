// Ray caster for synthetic streets. One primary ray per pixel through the pixel centre, so depth
// is exact (no averaging across edges) and equals the ray parameter: rays are scaled to unit z.
// Speed comes from culling, not from cleverness per ray: each primitive is tested only on the
// rows and columns its projected bounding box covers, and shadow rays look up only the
// primitives whose sun-direction projection covers the point.
#include <cmath>
#include <limits>
#include <thread>

#include "glpdepth/data/synth.h"
#include "glpdepth/util/error.h"
#include "random.h"

namespace glpdepth::synth {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct V {
  double x, y, z;
};
inline V operator+(V a, V b) {
  return {a.x + b.x, a.y + b.y, a.z + b.z};
}
inline V operator-(V a, V b) {
  return {a.x - b.x, a.y - b.y, a.z - b.z};
}
inline V operator*(V a, double s) {
  return {a.x * s, a.y * s, a.z * s};
}
inline double dot(V a, V b) {
  return a.x * b.x + a.y * b.y + a.z * b.z;
}
inline V cross(V a, V b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline V normalise(V a) {
  return a * (1.0 / std::sqrt(dot(a, a)));
}
inline V to_v(const Vec3& v) {
  return {v.x, v.y, v.z};
}

inline Rgb mul(Rgb a, Rgb b) {
  return {a[0] * b[0], a[1] * b[1], a[2] * b[2]};
}
inline Rgb scale(Rgb a, float s) {
  return {a[0] * s, a[1] * s, a[2] * s};
}
inline Rgb add(Rgb a, Rgb b) {
  return {a[0] + b[0], a[1] + b[1], a[2] + b[2]};
}
inline Rgb mix(Rgb a, Rgb b, float t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

enum class Kind : uint8_t { kNone, kGround, kBox, kCylinder, kEllipsoid };

struct Primitive {
  Kind kind;
  int index;
  V lo, hi;  // bounding box
};

struct Hit {
  double t = kInf;
  Kind kind = Kind::kNone;
  int index = -1;
};

// Ray-primitive tests return the entry distance along the ray (origin o, direction d) or kInf.
inline double hit_box(const Box& b, V o, V inv) {
  double t0 = (b.lo.x - o.x) * inv.x, t1 = (b.hi.x - o.x) * inv.x;
  double tmin = std::min(t0, t1), tmax = std::max(t0, t1);
  t0 = (b.lo.y - o.y) * inv.y;
  t1 = (b.hi.y - o.y) * inv.y;
  tmin = std::max(tmin, std::min(t0, t1));
  tmax = std::min(tmax, std::max(t0, t1));
  t0 = (b.lo.z - o.z) * inv.z;
  t1 = (b.hi.z - o.z) * inv.z;
  tmin = std::max(tmin, std::min(t0, t1));
  tmax = std::min(tmax, std::max(t0, t1));
  if (tmax < tmin || tmax <= 1e-9 || tmin <= 1e-9) return kInf;
  return tmin;
}

inline double hit_cylinder(const Cylinder& c, V o, V d) {
  double ox = o.x - c.x, oz = o.z - c.z;
  double a = d.x * d.x + d.z * d.z;
  double best = kInf;
  if (a > 1e-18) {
    double b = ox * d.x + oz * d.z;
    double cc = ox * ox + oz * oz - c.radius * c.radius;
    double disc = b * b - a * cc;
    if (disc >= 0) {
      double t = (-b - std::sqrt(disc)) / a;
      if (t > 1e-9) {
        double y = o.y + t * d.y;
        if (y >= c.y0 && y <= c.y1) best = t;
      }
    }
  }
  if (d.y < 0 && o.y > c.y1) {  // top cap, seen from above
    double t = (c.y1 - o.y) / d.y;
    double x = ox + t * d.x, z = oz + t * d.z;
    if (t > 1e-9 && x * x + z * z <= c.radius * c.radius) best = std::min(best, t);
  }
  return best;
}

inline double hit_ellipsoid(const Ellipsoid& e, V o, V d) {
  V oc{(o.x - e.centre.x) / e.radii.x, (o.y - e.centre.y) / e.radii.y,
       (o.z - e.centre.z) / e.radii.z};
  V dd{d.x / e.radii.x, d.y / e.radii.y, d.z / e.radii.z};
  double a = dot(dd, dd), b = dot(oc, dd), c = dot(oc, oc) - 1.0;
  double disc = b * b - a * c;
  if (disc < 0) return kInf;
  double t = (-b - std::sqrt(disc)) / a;
  return t > 1e-9 ? t : kInf;
}

class Renderer {
 public:
  Renderer(const Scene& scene, const Camera& camera, const Pose& pose, const RenderOptions& options)
      : scene_(scene), camera_(camera), options_(options) {
    origin_ = {pose.x, camera.camera_height, pose.z};
    sun_ = normalise(to_v(scene.lighting.sun_direction));
    collect_primitives();
    build_tiles();
    for (int i = 0; i < 4096; ++i)
      gamma_[static_cast<size_t>(i)] =
          static_cast<uint8_t>(std::lround(std::pow((i + 0.5f) / 4096.0f, 1.0f / 2.2f) * 255.0f));
    if (scene.lighting.shadows && sun_.y > 0.02) build_shadow_grid();
  }

  void render_rows(int row_begin, int row_end, Frame& frame) const {
    const int w = camera_.width;
    for (int v = row_begin; v < row_end; ++v) {
      const auto* tile_row = tiles_.data() + static_cast<size_t>(v / kTile) * tiles_x_;
      for (int u = 0; u < w; ++u) {
        V d{(u - camera_.cx) / camera_.fx, -(v - camera_.cy) / camera_.fy, 1.0};
        Hit hit = trace(d, u, v, tile_row[u / kTile]);
        Rgb colour = hit.kind == Kind::kNone ? sky(d) : shade(hit, d);
        size_t i = static_cast<size_t>(v) * w + u;
        if (hit.kind != Kind::kNone) {
          frame.depth_metres[i] = static_cast<float>(hit.t);  // z, since d.z == 1
          if (hit.t <= options_.max_depth) {
            double units = std::round(hit.t * 256.0);
            frame.depth.pixels[i] = static_cast<uint16_t>(std::clamp(units, 1.0, 65535.0));
          }
        }
        write_pixel(frame.rgb.at(u, v), colour, u, v);
      }
    }
  }

 private:
  static constexpr int kTile = 8;
  struct Candidate {
    double near_z;  // no point of the primitive is closer (z in camera coordinates)
    int primitive;
    int u0, u1, v0, v1;  // projected bounding box, pixels
  };

  void collect_primitives() {
    for (size_t i = 0; i < scene_.boxes.size(); ++i) {
      const Box& b = scene_.boxes[i];
      primitives_.push_back({Kind::kBox, static_cast<int>(i), to_v(b.lo), to_v(b.hi)});
    }
    for (size_t i = 0; i < scene_.cylinders.size(); ++i) {
      const Cylinder& c = scene_.cylinders[i];
      primitives_.push_back({Kind::kCylinder,
                             static_cast<int>(i),
                             {c.x - c.radius, c.y0, c.z - c.radius},
                             {c.x + c.radius, c.y1, c.z + c.radius}});
    }
    for (size_t i = 0; i < scene_.ellipsoids.size(); ++i) {
      const Ellipsoid& e = scene_.ellipsoids[i];
      primitives_.push_back({Kind::kEllipsoid, static_cast<int>(i), to_v(e.centre) - to_v(e.radii),
                             to_v(e.centre) + to_v(e.radii)});
    }
  }

  // The projection of a box clipped to z >= near lies inside the hull of its projected corners.
  // Each primitive goes into the lists of the 8x8-pixel tiles its projection covers, sorted by
  // nearest possible depth so that a pixel stops looking once a closer hit is known.
  void build_tiles() {
    tiles_x_ = (camera_.width + kTile - 1) / kTile;
    tiles_y_ = (camera_.height + kTile - 1) / kTile;
    tiles_.assign(static_cast<size_t>(tiles_x_) * tiles_y_, {});
    const double near = 1e-3;
    for (size_t p = 0; p < primitives_.size(); ++p) {
      const Primitive& prim = primitives_[p];
      double z0 = prim.lo.z - origin_.z, z1 = prim.hi.z - origin_.z;
      if (z1 <= near) continue;
      z0 = std::max(z0, near);
      double umin = kInf, umax = -kInf, vmin = kInf, vmax = -kInf;
      for (double x : {prim.lo.x - origin_.x, prim.hi.x - origin_.x})
        for (double y : {prim.lo.y - origin_.y, prim.hi.y - origin_.y})
          for (double z : {z0, z1}) {
            double u = camera_.cx + camera_.fx * x / z, v = camera_.cy - camera_.fy * y / z;
            umin = std::min(umin, u);
            umax = std::max(umax, u);
            vmin = std::min(vmin, v);
            vmax = std::max(vmax, v);
          }
      int u0 = static_cast<int>(std::max(0.0, std::floor(umin)));
      int u1 = static_cast<int>(std::min(camera_.width - 1.0, std::ceil(umax)));
      int v0 = static_cast<int>(std::max(0.0, std::floor(vmin)));
      int v1 = static_cast<int>(std::min(camera_.height - 1.0, std::ceil(vmax)));
      if (u0 > u1 || v0 > v1) continue;
      for (int ty = v0 / kTile; ty <= v1 / kTile; ++ty)
        for (int tx = u0 / kTile; tx <= u1 / kTile; ++tx)
          tiles_[static_cast<size_t>(ty) * tiles_x_ + tx].push_back(
              {z0, static_cast<int>(p), u0, u1, v0, v1});
    }
    for (auto& tile : tiles_)
      std::sort(tile.begin(), tile.end(), [](const Candidate& a, const Candidate& b) {
        return a.near_z < b.near_z || (a.near_z == b.near_z && a.primitive < b.primitive);
      });
  }

  // Parallel projection along the sun: a shadow ray from point p is the single point
  // (p.a, p.b) there, so a 2-D grid of projected bounding boxes answers "what can occlude p".
  void build_shadow_grid() {
    axis_a_ = normalise(cross(sun_, std::abs(sun_.y) < 0.99 ? V{0, 1, 0} : V{1, 0, 0}));
    axis_b_ = cross(sun_, axis_a_);
    std::vector<std::array<double, 4>> extents;
    double amin = kInf, amax = -kInf, bmin = kInf, bmax = -kInf;
    for (const Primitive& prim : primitives_) {
      std::array<double, 4> e{kInf, -kInf, kInf, -kInf};
      for (double x : {prim.lo.x, prim.hi.x})
        for (double y : {prim.lo.y, prim.hi.y})
          for (double z : {prim.lo.z, prim.hi.z}) {
            V c{x, y, z};
            double a = dot(c, axis_a_), b = dot(c, axis_b_);
            e[0] = std::min(e[0], a);
            e[1] = std::max(e[1], a);
            e[2] = std::min(e[2], b);
            e[3] = std::max(e[3], b);
          }
      extents.push_back(e);
      amin = std::min(amin, e[0]);
      amax = std::max(amax, e[1]);
      bmin = std::min(bmin, e[2]);
      bmax = std::max(bmax, e[3]);
    }
    if (extents.empty()) return;
    grid_a0_ = amin;
    grid_b0_ = bmin;
    grid_cell_ = std::max({1.0, (amax - amin) / 160.0, (bmax - bmin) / 160.0});
    grid_na_ = static_cast<int>((amax - amin) / grid_cell_) + 1;
    grid_nb_ = static_cast<int>((bmax - bmin) / grid_cell_) + 1;
    grid_.assign(static_cast<size_t>(grid_na_) * grid_nb_, {});
    for (size_t p = 0; p < extents.size(); ++p) {
      const auto& e = extents[p];
      int a0 = static_cast<int>((e[0] - grid_a0_) / grid_cell_);
      int a1 = std::min(grid_na_ - 1, static_cast<int>((e[1] - grid_a0_) / grid_cell_));
      int b0 = static_cast<int>((e[2] - grid_b0_) / grid_cell_);
      int b1 = std::min(grid_nb_ - 1, static_cast<int>((e[3] - grid_b0_) / grid_cell_));
      for (int a = a0; a <= a1; ++a)
        for (int b = b0; b <= b1; ++b)
          grid_[static_cast<size_t>(a) * grid_nb_ + b].push_back(static_cast<int>(p));
    }
    have_shadow_grid_ = true;
  }

  double intersect(const Primitive& prim, V o, V d, V inv) const {
    switch (prim.kind) {
      case Kind::kBox:
        return hit_box(scene_.boxes[static_cast<size_t>(prim.index)], o, inv);
      case Kind::kCylinder:
        return hit_cylinder(scene_.cylinders[static_cast<size_t>(prim.index)], o, d);
      case Kind::kEllipsoid:
        return hit_ellipsoid(scene_.ellipsoids[static_cast<size_t>(prim.index)], o, d);
      default:
        return kInf;
    }
  }

  Hit trace(V d, int u, int v, const std::vector<Candidate>& candidates) const {
    Hit hit;
    if (scene_.ground.enabled && d.y < 0) {
      hit.t = -origin_.y / d.y;
      hit.kind = Kind::kGround;
    }
    V inv{1.0 / d.x, 1.0 / d.y, 1.0 / d.z};
    for (const Candidate& c : candidates) {
      if (c.near_z > hit.t) break;  // t is z here, so nothing further on can be closer
      if (u < c.u0 || u > c.u1 || v < c.v0 || v > c.v1) continue;
      const Primitive& prim = primitives_[static_cast<size_t>(c.primitive)];
      double t = intersect(prim, origin_, d, inv);
      if (t < hit.t) {
        hit.t = t;
        hit.kind = prim.kind;
        hit.index = prim.index;
      }
    }
    return hit;
  }

  bool in_shadow(V p) const {
    if (!have_shadow_grid_) return false;
    int a = static_cast<int>(std::floor((dot(p, axis_a_) - grid_a0_) / grid_cell_));
    int b = static_cast<int>(std::floor((dot(p, axis_b_) - grid_b0_) / grid_cell_));
    if (a < 0 || b < 0 || a >= grid_na_ || b >= grid_nb_) return false;
    V inv{1.0 / sun_.x, 1.0 / sun_.y, 1.0 / sun_.z};
    for (int p_index : grid_[static_cast<size_t>(a) * grid_nb_ + b]) {
      if (intersect(primitives_[static_cast<size_t>(p_index)], p, sun_, inv) < kInf) return true;
    }
    return false;
  }

  V normal_at(const Hit& hit, V p, V d) const {
    switch (hit.kind) {
      case Kind::kGround:
        return {0, 1, 0};
      case Kind::kBox: {
        const Box& b = scene_.boxes[static_cast<size_t>(hit.index)];
        // The face whose plane the hit point is closest to.
        double best = kInf;
        V n{0, 1, 0};
        auto consider = [&](double dist, V normal) {
          if (dist < best) {
            best = dist;
            n = normal;
          }
        };
        consider(std::abs(p.x - b.lo.x), {-1, 0, 0});
        consider(std::abs(p.x - b.hi.x), {1, 0, 0});
        consider(std::abs(p.y - b.lo.y), {0, -1, 0});
        consider(std::abs(p.y - b.hi.y), {0, 1, 0});
        consider(std::abs(p.z - b.lo.z), {0, 0, -1});
        consider(std::abs(p.z - b.hi.z), {0, 0, 1});
        return n;
      }
      case Kind::kCylinder: {
        const Cylinder& c = scene_.cylinders[static_cast<size_t>(hit.index)];
        if (std::abs(p.y - c.y1) < 1e-6) return {0, 1, 0};
        return normalise(V{p.x - c.x, 0, p.z - c.z});
      }
      case Kind::kEllipsoid: {
        const Ellipsoid& e = scene_.ellipsoids[static_cast<size_t>(hit.index)];
        return normalise(V{(p.x - e.centre.x) / (e.radii.x * e.radii.x),
                           (p.y - e.centre.y) / (e.radii.y * e.radii.y),
                           (p.z - e.centre.z) / (e.radii.z * e.radii.z)});
      }
      default:
        return d * -1.0;
    }
  }

  // Box-filtered coverage of [lo, hi] by a pixel footprint [x - h, x + h].
  static float coverage(double x, double h, double lo, double hi) {
    double overlap = std::min(x + h, hi) - std::max(x - h, lo);
    return static_cast<float>(std::clamp(overlap / (2 * h), 0.0, 1.0));
  }
  // Box-filtered fraction of a periodic pattern "on for `on` metres every `period`" over [x-h,
  // x+h].
  static float periodic_coverage(double x, double h, double on, double period) {
    auto integral = [&](double s) {
      double k = std::floor(s / period);
      return k * on + std::min(s - k * period, on);
    };
    return static_cast<float>(std::clamp((integral(x + h) - integral(x - h)) / (2 * h), 0.0, 1.0));
  }

  Rgb ground_albedo(V p, double t) const {
    const Ground& g = scene_.ground;
    // Pixel footprint on the ground: across the road t/fx; along it t^2/(fy h) (foreshortening).
    double fx = std::max(1e-3, t / camera_.fx);
    double fz = std::max(fx, t * t / (camera_.fy * origin_.y));
    double hx = fx / 2, hz = fz / 2;
    double x = p.x, z = p.z;
    double fp = std::sqrt(fx * fz);
    if (x >= g.road_left && x <= g.road_right) {
      float grain = fbm(x, z, 6.0, 4, fp, g.seed);
      float patches = value_noise(x * 0.15, z * 0.08, g.seed + 17);
      Rgb c = scale(g.asphalt, 0.75f + 0.5f * grain + 0.25f * (patches - 0.5f));
      if (g.markings) {
        float paint = 0.0f;
        const double half = 0.075;
        int lanes = static_cast<int>(std::lround((g.road_right - g.road_left) / g.lane_width));
        for (int k = 1; k < lanes; ++k) {
          double centre = g.road_left + k * g.lane_width;
          float across = coverage(x, hx, centre - half, centre + half);
          if (across > 0)
            paint = std::max(paint, across * periodic_coverage(z + g.dash_phase, hz, g.dash_length,
                                                               g.dash_length + g.dash_gap));
        }
        for (double centre : {g.road_left + 0.3, g.road_right - 0.3})
          paint = std::max(paint, coverage(x, hx, centre - half, centre + half));
        if (paint > 0) {
          float wear = 0.75f + 0.25f * fbm(x, z, 3.0, 2, fp, g.seed + 5);
          c = mix(c, scale(g.paint, wear), paint);
        }
      }
      return c;
    }
    double kerb = x < g.road_left ? g.road_left : g.road_right;
    double width = x < g.road_left ? g.sidewalk_left : g.sidewalk_right;
    double from_kerb = std::abs(x - kerb);
    if (from_kerb <= width) {
      float grain = fbm(x, z, 4.0, 3, fp, g.seed + 31);
      Rgb c = scale(g.sidewalk, 0.85f + 0.3f * grain);
      // Paving slabs 1 m x 0.6 m with dark joints, and a kerbstone row.
      float joints = std::max(1.0f - periodic_coverage(x - kerb, hx, 0.97, 1.0),
                              1.0f - periodic_coverage(z, hz, 0.57, 0.6));
      c = scale(c, 1.0f - 0.35f * joints);
      float kerbstone = coverage(from_kerb, hx, 0.0, 0.18);
      return mix(c, scale(g.sidewalk, 1.15f), kerbstone);
    }
    float n = fbm(x, z, 1.5, 5, fp, g.seed + 47);
    return scale(g.verge, 0.6f + 0.8f * n);
  }

  Rgb material_albedo(const Material& m, V p, V n, double t) const {
    double fp = std::max(1e-3, t / camera_.fx);
    switch (m.pattern) {
      case Pattern::kPlain:
        return scale(m.colour, 0.85f + 0.3f * fbm(p.x + p.z, p.y, 3.0, 3, fp, m.seed));
      case Pattern::kTyre:
        return m.colour;
      case Pattern::kGlass:
        return m.colour;
      case Pattern::kFoliage: {
        float f = fbm(p.x, p.y, p.z, 3.0, 4, fp, m.seed);
        return scale(m.colour, 0.35f + 1.3f * f);
      }
      case Pattern::kBark:
        return scale(m.colour, 0.7f + 0.6f * fbm((p.x + p.z) * 4.0, p.y * 0.5, 2.0, 3, fp, m.seed));
      case Pattern::kFacade: {
        if (n.y > 0.5) return scale(m.colour, 0.45f);  // roof
        double s = std::abs(n.x) > 0.5 ? p.z : p.x;    // horizontal coordinate along the wall
        float wall_noise = fbm(s, p.y, 1.2, 4, fp, m.seed);
        Rgb wall = scale(m.colour, 0.8f + 0.4f * wall_noise);
        double sx = m.window_spacing_x, sy = m.window_spacing_y;
        double wx = sx * m.window_fraction, wy = sy * 0.45;
        if (p.y < sy * 0.15) return scale(wall, 0.7f);  // plinth
        // Windows: per-window tint (some lit, some reflecting the sky).
        int col = static_cast<int>(std::floor(s / sx)),
            row = static_cast<int>(std::floor(p.y / sy));
        float tint = hash01(col, row, 3, m.seed);
        Rgb glass = tint > 0.85f ? Rgb{0.55f, 0.50f, 0.35f}
                                 : scale(Rgb{0.10f, 0.13f, 0.18f}, 0.6f + 1.4f * tint);
        double hx = fp / 2;
        float in_x = periodic_coverage(s - (sx - wx) / 2, hx, wx, sx);
        float in_y = periodic_coverage(p.y - sy * 0.3, hx, wy, sy);
        float window = in_x * in_y;
        // Far away the window grid averages out to its mean; blend towards it.
        float far = static_cast<float>(std::clamp(2.0 * fp / std::min(wx, wy) - 0.5, 0.0, 1.0));
        Rgb mean_glass{0.12f, 0.15f, 0.20f};
        float mean_fraction = static_cast<float>(wx / sx * wy / sy);
        Rgb sharp = mix(wall, glass, window);
        Rgb averaged = mix(wall, mean_glass, mean_fraction);
        Rgb c = mix(sharp, averaged, far);
        // Cornice line under each floor.
        float cornice = periodic_coverage(p.y, hx, 0.15, sy);
        return scale(c, 1.0f - 0.25f * cornice);
      }
    }
    return m.colour;
  }

  Rgb sky(V d) const {
    const Lighting& l = scene_.lighting;
    V dn = normalise(d);
    double elevation = std::max(0.0, dn.y);
    Rgb c = mix(l.sky_horizon, l.sky_zenith, static_cast<float>(std::pow(elevation, 0.6)));
    if (dn.y < 0) c = scale(l.sky_horizon, 0.9f);  // below the horizon with no ground
    if (l.clouds > 0 && dn.y > 0.01) {
      double k = 1.0 / (dn.y + 0.05);
      float cloud = fbm(dn.x * k * 2.0, dn.z * k * 2.0, 0.6, 4, 0.02 * k, 99);
      float amount = std::clamp((cloud - 0.45f) * 3.0f, 0.0f, 1.0f) * l.clouds;
      c = mix(c, Rgb{0.92f, 0.92f, 0.94f}, amount);
    }
    double glow = std::max(0.0, dot(dn, sun_));
    double g64 = glow;
    for (int i = 0; i < 6; ++i) g64 *= g64;
    double g2048 = g64;
    for (int i = 0; i < 5; ++i) g2048 *= g2048;
    c = add(c, scale(l.sun, static_cast<float>(0.25 * g64 + g2048)));
    return c;
  }

  Rgb shade(const Hit& hit, V d) const {
    V p = origin_ + d * hit.t;
    V n = normal_at(hit, p, d);
    Rgb albedo;
    const Material* m = nullptr;
    if (hit.kind == Kind::kGround) {
      albedo = ground_albedo(p, hit.t);
    } else {
      switch (hit.kind) {
        case Kind::kBox:
          m = &scene_.boxes[static_cast<size_t>(hit.index)].material;
          break;
        case Kind::kCylinder:
          m = &scene_.cylinders[static_cast<size_t>(hit.index)].material;
          break;
        default:
          m = &scene_.ellipsoids[static_cast<size_t>(hit.index)].material;
          break;
      }
      albedo = material_albedo(*m, p, n, hit.t);
    }
    const Lighting& l = scene_.lighting;
    double lambert = std::max(0.0, dot(n, sun_));
    if (lambert > 0 && in_shadow(p + n * 1e-4)) lambert = 0;
    // Surfaces facing up see more sky.
    Rgb light = add(scale(l.ambient, static_cast<float>(0.75 + 0.25 * n.y)),
                    scale(l.sun, static_cast<float>(lambert)));
    Rgb c = mul(albedo, light);
    if (m != nullptr && m->pattern == Pattern::kGlass) {
      V r = d - n * (2.0 * dot(d, n));
      c = mix(c, sky(r), 0.35f);
    }
    double distance = hit.t * std::sqrt(dot(d, d));
    float haze = static_cast<float>(1.0 - std::exp(-distance / l.haze_distance));
    return mix(c, l.sky_horizon, haze);
  }

  void write_pixel(uint8_t* out, Rgb c, int u, int v) const {
    const Lighting& l = scene_.lighting;
    uint32_t seed = static_cast<uint32_t>(scene_.noise_seed ^ (scene_.noise_seed >> 32));
    for (int k = 0; k < 3; ++k) {
      float noise = (hash01(u, v, k, seed) + hash01(u, v, k + 3, seed) - 1.0f) * 1.7f * l.noise;
      float x = std::clamp(c[k] * l.exposure + noise, 0.0f, 0.99999f);
      out[k] = gamma_[static_cast<size_t>(x * 4096.0f)];
    }
  }

  const Scene& scene_;
  const Camera& camera_;
  const RenderOptions& options_;
  V origin_, sun_;
  std::vector<Primitive> primitives_;
  std::vector<std::vector<Candidate>> tiles_;
  int tiles_x_ = 0, tiles_y_ = 0;
  std::array<uint8_t, 4096> gamma_{};
  bool have_shadow_grid_ = false;
  V axis_a_{}, axis_b_{};
  double grid_a0_ = 0, grid_b0_ = 0, grid_cell_ = 1;
  int grid_na_ = 0, grid_nb_ = 0;
  std::vector<std::vector<int>> grid_;
};

}  // namespace

Frame render(const Scene& scene, const Camera& camera, const Pose& pose,
             const RenderOptions& options) {
  check(camera.width > 0 && camera.height > 0 && camera.fx > 0 && camera.fy > 0,
        "synthetic camera: invalid intrinsics (", camera.width, "x", camera.height, ", fx ",
        camera.fx, ", fy ", camera.fy, ")");
  check(camera.camera_height > 0, "synthetic camera: height above the road must be positive");
  Frame frame;
  frame.camera = camera;
  frame.rgb = Image8(camera.width, camera.height, 3);
  frame.depth = Image16(camera.width, camera.height);
  frame.depth_metres.assign(static_cast<size_t>(camera.width) * camera.height, 0.0f);
  Renderer renderer(scene, camera, pose, options);
  int threads = std::clamp(options.threads, 1, camera.height);
  if (threads == 1) {
    renderer.render_rows(0, camera.height, frame);
    return frame;
  }
  // Interleaved row blocks balance the cheap sky rows against the busy street rows.
  std::vector<std::thread> pool;
  const int block = 8;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int start = t * block; start < camera.height; start += threads * block)
        renderer.render_rows(start, std::min(camera.height, start + block), frame);
    });
  }
  for (auto& thread : pool) thread.join();
  return frame;
}

double lidar_row(const Camera& camera, int beam, int beams, double u) {
  // HDL-64E-like fan: +2 deg down to -24.8 deg, spaced evenly (the real unit has two blocks with
  // slightly different spacing; the scan-line pattern is what matters here).
  constexpr double kTop = 2.0, kBottom = -24.8;
  double elevation =
      (kTop + (kBottom - kTop) * beam / std::max(1, beams - 1)) * 3.14159265358979323846 / 180.0;
  // Points at constant elevation: Y / sqrt(X^2 + Z^2) = tan(elevation).
  double x = (u - camera.cx) / camera.fx;
  return camera.cy - camera.fy * std::tan(elevation) * std::sqrt(1.0 + x * x);
}

Image16 lidar_sparsify(const Image16& dense, const Camera& camera, int beams) {
  check(dense.width == camera.width && dense.height == camera.height,
        "lidar_sparsify: depth map is ", dense.width, "x", dense.height, ", camera is ",
        camera.width, "x", camera.height);
  Image16 sparse(dense.width, dense.height);
  // About 0.09 degrees between firings: sample columns at that azimuth step.
  double step = std::max(1.0, camera.fx * 0.09 * 3.14159265358979323846 / 180.0);
  for (int beam = 0; beam < beams; ++beam) {
    for (double uf = 0; uf < dense.width; uf += step) {
      int u = static_cast<int>(uf);
      int v = static_cast<int>(std::lround(lidar_row(camera, beam, beams, u)));
      if (v < 0 || v >= dense.height) continue;
      sparse.at(u, v) = dense.at(u, v);
    }
  }
  return sparse;
}

}  // namespace glpdepth::synth
