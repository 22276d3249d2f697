// Generates boost_reference.txt: values drawn the way Caffe's CPU RNG helpers draw them
// (BVLC/caffe src/caffe/util/math_functions.cpp: caffe_rng_uniform, caffe_rng_bernoulli), using the
// real boost::random headers. Build and run (Debian: libboost1.74-dev):
//   g++ -O0 -std=c++11 boost_reference.cpp -o /tmp/boost_reference && /tmp/boost_reference > boost_reference.txt
// Each block: "block <name> <seed> <count>", then one value per line as 8 hex digits of the float
// bits (or 0/1 for bernoulli), then "next <raw>" = the engine's next raw output after the block,
// which pins how many outputs the block consumed.
#include <boost/math/special_functions/next.hpp>
#include <boost/random.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

typedef boost::mt19937 rng_t;

static unsigned bits(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }

// caffe_rng_uniform<float>: uniform_real on [a, nextafter(b, FLT_MAX)).
static void uniform(rng_t& rng, int n, float a, float b, float* r) {
  boost::uniform_real<float> dist(a, boost::math::nextafter<float>(b, std::numeric_limits<float>::max()));
  boost::variate_generator<rng_t*, boost::uniform_real<float> > gen(&rng, dist);
  for (int i = 0; i < n; ++i) r[i] = gen();
}

template <typename P>
static void bernoulli(rng_t& rng, int n, P p, int* r) {
  boost::bernoulli_distribution<P> dist(p);
  boost::variate_generator<rng_t*, boost::bernoulli_distribution<P> > gen(&rng, dist);
  for (int i = 0; i < n; ++i) r[i] = static_cast<int>(gen());
}

static void uniform_block(const char* name, unsigned seed, int n, float a, float b, rng_t* shared = 0) {
  rng_t own(seed);
  rng_t& rng = shared ? *shared : own;
  float* v = new float[n];
  uniform(rng, n, a, b, v);
  std::printf("block %s %u %d\n", name, seed, n);
  for (int i = 0; i < n; ++i) std::printf("%08x\n", bits(v[i]));
  if (!shared) std::printf("next %u\n", static_cast<unsigned>(rng()));
  delete[] v;
}

int main() {
  // Xavier on a conv weight 64x3x3x3 (fan_in 27), then xavier on its 1-D bias of 64 (fan_in 1),
  // from one stream seeded 1701, as a conv layer's SetUp fills weight then bias.
  {
    rng_t rng(1701);
    float n_w = 27;  // Dtype n = fan_in
    float s_w = std::sqrt(float(3) / n_w);
    uniform_block("xavier_conv_64x3x3x3", 1701, 64 * 3 * 3 * 3, -s_w, s_w, &rng);
    float n_b = 1;
    float s_b = std::sqrt(float(3) / n_b);
    uniform_block("xavier_bias_64", 1701, 64, -s_b, s_b, &rng);
    std::printf("next %u\n", static_cast<unsigned>(rng()));
  }
  uniform_block("uniform_-0.5_0.25", 5, 1000, -0.5f, 0.25f);
  // a == b: half the draws land on nextafter(b) and are drawn again.
  uniform_block("uniform_1_1", 17, 200, 1.0f, 1.0f);
  // A range wider than FLT_MAX takes boost's halving branch.
  uniform_block("uniform_-3e38_3e38", 13, 100, -3e38f, 3e38f);
  {
    rng_t rng(11);
    int r[1000];
    bernoulli<float>(rng, 1000, 0.3f, r);
    std::printf("block bernoulli_float_0.3 11 1000\n");
    for (int i = 0; i < 1000; ++i) std::printf("%d\n", r[i]);
    std::printf("next %u\n", static_cast<unsigned>(rng()));
  }
  {
    rng_t rng(12);
    int r[1000];
    bernoulli<double>(rng, 1000, 0.5, r);
    std::printf("block bernoulli_double_0.5 12 1000\n");
    for (int i = 0; i < 1000; ++i) std::printf("%d\n", r[i]);
    std::printf("next %u\n", static_cast<unsigned>(rng()));
  }
  return 0;
}
