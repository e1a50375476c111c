// Procedural streets: every size and placement is drawn from one seeded Rng, so a seed names a
// street exactly, on every platform.
#include <cmath>

#include "glpdepth/data/synth.h"
#include "random.h"

namespace glpdepth::synth {
namespace {

constexpr double kPi = 3.14159265358979323846;

Rgb jitter(Rng& rng, Rgb c, float amount) {
  float brightness = static_cast<float>(rng.uniform(1.0 - amount, 1.0 + amount));
  for (auto& v : c)
    v = std::clamp(
        v * brightness * static_cast<float>(rng.uniform(1.0 - amount / 2, 1.0 + amount / 2)), 0.0f,
        1.0f);
  return c;
}

Rgb pick(Rng& rng, const std::vector<Rgb>& palette) {
  return palette[static_cast<size_t>(rng.integer(0, static_cast<int>(palette.size()) - 1))];
}

const std::vector<Rgb> kFacades = {
    {0.75f, 0.68f, 0.55f}, {0.70f, 0.70f, 0.68f}, {0.55f, 0.28f, 0.20f}, {0.85f, 0.84f, 0.80f},
    {0.38f, 0.38f, 0.40f}, {0.80f, 0.65f, 0.38f}, {0.60f, 0.68f, 0.78f}, {0.48f, 0.37f, 0.27f},
    {0.70f, 0.50f, 0.45f}, {0.62f, 0.66f, 0.58f}};
const std::vector<Rgb> kCars = {{0.85f, 0.85f, 0.85f}, {0.05f, 0.05f, 0.06f}, {0.55f, 0.56f, 0.58f},
                                {0.60f, 0.07f, 0.06f}, {0.08f, 0.16f, 0.45f}, {0.25f, 0.26f, 0.28f},
                                {0.15f, 0.30f, 0.18f}, {0.85f, 0.70f, 0.10f}, {0.90f, 0.90f, 0.92f},
                                {0.40f, 0.32f, 0.25f}};
const std::vector<Rgb> kSigns = {
    {0.75f, 0.08f, 0.08f}, {0.08f, 0.22f, 0.65f}, {0.90f, 0.90f, 0.90f}, {0.90f, 0.75f, 0.10f}};

Material material(Rng& rng, Rgb colour, Pattern pattern) {
  Material m;
  m.colour = colour;
  m.pattern = pattern;
  m.seed = static_cast<uint32_t>(rng.bits());
  return m;
}

Box box(double x0, double x1, double y0, double y1, double z0, double z1, const Material& m) {
  Box b;
  b.lo = {std::min(x0, x1), std::min(y0, y1), std::min(z0, z1)};
  b.hi = {std::max(x0, x1), std::max(y0, y1), std::max(z0, z1)};
  b.material = m;
  return b;
}

// A car or van along the road: body, cabin and two axles of tyres.
double add_vehicle(Scene& scene, Rng& rng, double x_centre, double z_start) {
  bool van = rng.chance(0.15);
  double length = van ? rng.uniform(5.5, 9.0) : rng.uniform(3.8, 4.9);
  double width = van ? rng.uniform(2.1, 2.5) : rng.uniform(1.7, 1.95);
  double body_top = van ? rng.uniform(2.4, 3.3) : rng.uniform(0.95, 1.1);
  Material paint = material(rng, jitter(rng, pick(rng, kCars), 0.08f), Pattern::kPlain);
  double x0 = x_centre - width / 2, x1 = x_centre + width / 2;
  double z0 = z_start, z1 = z_start + length;
  scene.boxes.push_back(box(x0, x1, 0.3, body_top, z0, z1, paint));
  if (!van) {
    Material glass = material(rng, {0.08f, 0.09f, 0.11f}, Pattern::kGlass);
    double inset = rng.uniform(0.08, 0.15);
    scene.boxes.push_back(box(x0 + inset, x1 - inset, body_top, body_top + rng.uniform(0.38, 0.52),
                              z0 + length * rng.uniform(0.22, 0.32),
                              z1 - length * rng.uniform(0.2, 0.3), glass));
  } else {
    // Windscreen at the back end facing the camera is hidden; a dark band reads as the cab.
    Material glass = material(rng, {0.08f, 0.09f, 0.11f}, Pattern::kGlass);
    scene.boxes.push_back(
        box(x0 + 0.05, x1 - 0.05, body_top - 0.9, body_top - 0.2, z1 - 1.2, z1 + 0.02, glass));
  }
  Material tyre = material(rng, {0.03f, 0.03f, 0.03f}, Pattern::kTyre);
  for (double axle : {z0 + 0.85, z1 - 0.85})
    scene.boxes.push_back(box(x0 + 0.03, x1 - 0.03, 0.0, 0.62, axle - 0.33, axle + 0.33, tyre));
  return z1;
}

void add_tree(Scene& scene, Rng& rng, double x, double z) {
  double trunk_height = rng.uniform(1.8, 3.5);
  Cylinder trunk;
  trunk.x = x;
  trunk.z = z;
  trunk.radius = rng.uniform(0.12, 0.3);
  trunk.y0 = 0.0;
  trunk.y1 = trunk_height + 0.5;
  trunk.material = material(rng, jitter(rng, {0.30f, 0.22f, 0.15f}, 0.2f), Pattern::kBark);
  scene.cylinders.push_back(trunk);
  Ellipsoid crown;
  double r = rng.uniform(1.2, 2.8);
  crown.radii = {r * rng.uniform(0.85, 1.15), r * rng.uniform(0.9, 1.6),
                 r * rng.uniform(0.85, 1.15)};
  crown.centre = {x, trunk_height + crown.radii.y * 0.8, z};
  Rgb green = rng.chance(0.15) ? Rgb{0.35f, 0.33f, 0.10f} : Rgb{0.16f, 0.33f, 0.10f};
  crown.material = material(rng, jitter(rng, green, 0.25f), Pattern::kFoliage);
  scene.ellipsoids.push_back(crown);
}

void add_street_light(Scene& scene, Rng& rng, double x, double z, double towards_road) {
  Material metal = material(
      rng,
      jitter(rng, rng.chance(0.5) ? Rgb{0.35f, 0.36f, 0.37f} : Rgb{0.12f, 0.20f, 0.14f}, 0.15f),
      Pattern::kPlain);
  double height = rng.uniform(5.5, 9.0);
  Cylinder pole;
  pole.x = x;
  pole.z = z;
  pole.radius = rng.uniform(0.07, 0.14);
  pole.y0 = 0.0;
  pole.y1 = height;
  pole.material = metal;
  scene.cylinders.push_back(pole);
  double arm = rng.uniform(1.2, 2.5);
  double x_end = x + towards_road * arm;
  scene.boxes.push_back(box(x, x_end, height - 0.12, height, z - 0.05, z + 0.05, metal));
  Material lamp = material(rng, {0.85f, 0.85f, 0.80f}, Pattern::kPlain);
  scene.boxes.push_back(
      box(x_end - 0.35 * towards_road, x_end, height - 0.25, height - 0.1, z - 0.2, z + 0.2, lamp));
}

void add_sign(Scene& scene, Rng& rng, double x, double z) {
  Material metal = material(rng, {0.55f, 0.56f, 0.57f}, Pattern::kPlain);
  double height = rng.uniform(2.2, 3.0);
  Cylinder post;
  post.x = x;
  post.z = z;
  post.radius = 0.04;
  post.y0 = 0.0;
  post.y1 = height;
  post.material = metal;
  scene.cylinders.push_back(post);
  double half = rng.uniform(0.3, 0.45);
  Material face = material(rng, pick(rng, kSigns), Pattern::kPlain);
  scene.boxes.push_back(
      box(x - half, x + half, height - 2 * half, height, z - 0.06, z - 0.02, face));
}

}  // namespace

Street generate_street(uint64_t seed, const SceneOptions& options, int frames) {
  Rng rng(seed);
  Street street;
  Scene& scene = street.scene;
  Ground& g = scene.ground;

  int lanes = rng.integer(2, 4);
  g.lane_width = rng.uniform(3.0, 3.7);
  int camera_lane = rng.integer(0, lanes - 1);
  g.road_left = -(camera_lane + 0.5) * g.lane_width;
  g.road_right = g.road_left + lanes * g.lane_width;
  street.camera_x = rng.uniform(-0.3, 0.3);
  street.metres_per_frame = rng.uniform(0.5, 1.4);
  const double travel = std::max(0, frames - 1) * street.metres_per_frame;
  const double length = travel + 160.0;  // the last frame sees 80 m and a skyline beyond
  g.sidewalk_left = rng.uniform(1.5, 4.5);
  g.sidewalk_right = rng.uniform(1.5, 4.5);
  g.markings = options.markings;
  g.dash_length = rng.uniform(2.0, 4.5);
  g.dash_gap = rng.uniform(4.0, 9.0);
  g.dash_phase = rng.uniform(0.0, g.dash_length + g.dash_gap);
  float asphalt = static_cast<float>(rng.uniform(0.12, 0.30));
  g.asphalt = jitter(rng, {asphalt, asphalt, asphalt * 1.04f}, 0.05f);
  float concrete = static_cast<float>(rng.uniform(0.40, 0.65));
  g.sidewalk = jitter(rng, {concrete, concrete * 0.97f, concrete * 0.92f}, 0.06f);
  g.verge = rng.chance(0.6) ? jitter(rng, {0.20f, 0.32f, 0.12f}, 0.2f)
                            : jitter(rng, {0.42f, 0.38f, 0.32f}, 0.15f);
  g.paint = rng.chance(0.85) ? Rgb{0.88f, 0.88f, 0.86f} : Rgb{0.85f, 0.70f, 0.15f};
  g.seed = static_cast<uint32_t>(rng.bits());

  Lighting& light = scene.lighting;
  bool overcast = rng.chance(0.25);
  double elevation = rng.uniform(15.0, 65.0) * kPi / 180.0;
  double azimuth = rng.uniform(0.0, 2.0 * kPi);
  light.sun_direction = {std::cos(elevation) * std::sin(azimuth), std::sin(elevation),
                         std::cos(elevation) * std::cos(azimuth)};
  if (overcast) {
    float s = static_cast<float>(rng.uniform(0.08, 0.25));
    light.sun = {s, s, s};
    float a = static_cast<float>(rng.uniform(0.7, 0.95));
    light.ambient = {a, a, a * 1.03f};
    float h = static_cast<float>(rng.uniform(0.65, 0.85));
    light.sky_horizon = {h, h, h * 1.02f};
    light.sky_zenith = {h * 0.85f, h * 0.87f, h * 0.92f};
    light.clouds = 0.15f;
  } else {
    // Low sun is warmer.
    float warm = static_cast<float>(1.0 - std::sin(elevation));
    float s = static_cast<float>(rng.uniform(0.85, 1.25));
    light.sun = {s, s * (0.97f - 0.12f * warm), s * (0.90f - 0.30f * warm)};
    float a = static_cast<float>(rng.uniform(0.22, 0.42));
    light.ambient = {a * 0.9f, a * 0.97f, a * 1.12f};
    light.sky_zenith = jitter(rng, {0.22f, 0.42f, 0.82f}, 0.15f);
    light.sky_horizon = jitter(rng, {0.72f, 0.80f, 0.90f}, 0.06f);
    light.clouds = static_cast<float>(rng.uniform(0.0, 0.6));
  }
  light.haze_distance = rng.uniform(250.0, 1200.0);
  light.exposure = static_cast<float>(rng.uniform(0.85, 1.2));
  light.noise = static_cast<float>(rng.uniform(0.004, 0.02));
  light.shadows = options.shadows;

  const double z_begin = -30.0;
  for (int side : {-1, 1}) {
    double kerb = side < 0 ? g.road_left : g.road_right;
    double sidewalk = side < 0 ? g.sidewalk_left : g.sidewalk_right;
    double edge = kerb + side * sidewalk;

    if (options.buildings) {
      double z = z_begin - rng.uniform(0.0, 10.0);
      while (z < length) {
        if (rng.chance(0.18)) {
          z += rng.uniform(4.0, 25.0);  // gap or side street
          continue;
        }
        double len = rng.uniform(6.0, 30.0);
        double setback = rng.chance(0.7) ? rng.uniform(0.0, 2.0) : rng.uniform(2.0, 12.0);
        double height = rng.log_uniform(4.0, 30.0);
        double depth = rng.uniform(8.0, 20.0);
        double near_x = edge + side * setback;
        Material m = material(rng, jitter(rng, pick(rng, kFacades), 0.12f), Pattern::kFacade);
        m.window_spacing_x = static_cast<float>(rng.uniform(2.2, 4.0));
        m.window_spacing_y = static_cast<float>(rng.uniform(2.8, 3.6));
        m.window_fraction = static_cast<float>(rng.uniform(0.3, 0.65));
        scene.boxes.push_back(box(near_x, near_x + side * depth, 0.0, height, z, z + len, m));
        if (rng.chance(0.35)) {
          double back_x = near_x + side * (depth + rng.uniform(2.0, 20.0));
          Material mb = material(rng, jitter(rng, pick(rng, kFacades), 0.12f), Pattern::kFacade);
          mb.window_spacing_x = static_cast<float>(rng.uniform(2.2, 4.0));
          mb.window_spacing_y = static_cast<float>(rng.uniform(2.8, 3.6));
          mb.window_fraction = static_cast<float>(rng.uniform(0.3, 0.65));
          double back_len = len * rng.uniform(0.8, 1.5);
          scene.boxes.push_back(box(back_x, back_x + side * 15.0, 0.0,
                                    std::min(70.0, height * rng.uniform(1.2, 2.5)), z, z + back_len,
                                    mb));
        }
        z += len + (rng.chance(0.5) ? 0.0 : rng.uniform(0.5, 4.0));
      }
    }
    if (options.trees && rng.chance(0.7)) {
      double z = z_begin + rng.uniform(0.0, 10.0);
      while (z < length) {
        double x = kerb + side * std::min(sidewalk - 0.4, rng.uniform(0.8, 1.6));
        add_tree(scene, rng, x, z);
        z += rng.uniform(7.0, 16.0);
      }
    }
    if (options.poles && rng.chance(0.8)) {
      double z = z_begin + rng.uniform(0.0, 20.0);
      double spacing = rng.uniform(18.0, 35.0);
      while (z < length) {
        add_street_light(scene, rng, kerb + side * 0.45, z, -side);
        z += spacing * rng.uniform(0.9, 1.1);
      }
    }
    if (options.clutter) {
      double z = z_begin + rng.uniform(0.0, 15.0);
      while (z < length) {
        double pick_kind = rng.uniform();
        if (pick_kind < 0.35) {
          add_sign(scene, rng, kerb + side * 0.35, z);
        } else if (pick_kind < 0.8) {
          // Bins, crates, electrical cabinets.
          double w = rng.uniform(0.4, 1.2), h = rng.uniform(0.6, 1.6), d = rng.uniform(0.4, 1.0);
          double x = kerb + side * rng.uniform(0.4, std::max(0.5, sidewalk - 0.2));
          Material m = material(rng, jitter(rng, pick(rng, kFacades), 0.3f), Pattern::kPlain);
          scene.boxes.push_back(box(x - w / 2, x + w / 2, 0.0, h, z, z + d, m));
        } else {
          // Bus shelter or kiosk at the back of the sidewalk.
          double x = edge - side * 0.2;
          Material m = material(rng, jitter(rng, {0.45f, 0.50f, 0.55f}, 0.2f),
                                rng.chance(0.5) ? Pattern::kGlass : Pattern::kPlain);
          scene.boxes.push_back(box(x, x - side * rng.uniform(1.2, 2.0), 0.0, rng.uniform(2.3, 2.8),
                                    z, z + rng.uniform(2.5, 5.0), m));
        }
        z += rng.uniform(8.0, 30.0);
      }
    }
  }

  if (options.cars) {
    for (int lane = 0; lane < lanes; ++lane) {
      double centre = g.road_left + (lane + 0.5) * g.lane_width;
      // The camera drives through its own lane: nothing there until well past a drive's travel.
      double z = lane == camera_lane ? travel + rng.uniform(8.0, 35.0) : rng.uniform(-25.0, 5.0);
      double density = lane == camera_lane ? 0.6 : 0.7;
      while (z < length) {
        if (rng.chance(density)) {
          z = add_vehicle(scene, rng, centre + rng.uniform(-0.35, 0.35), z);
        }
        z += rng.uniform(3.0, 30.0);
      }
    }
  }
  return street;
}

}  // namespace glpdepth::synth
