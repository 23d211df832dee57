// Private: seeded random draws that are the same on every platform. The standard library's
// distributions are implementation-defined, so only the mt19937_64 engine (whose output the
// standard fixes) is used, and the distributions are written out here.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace loyalty::analytics {

class Random {
public:
    explicit Random(std::uint64_t seed) : engine_(seed) {}

    // Uniform in (0, 1): never 0, so logarithms are safe.
    double uniform() { return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53; }
    bool chance(double probability) { return uniform() < probability; }
    std::uint64_t below(std::uint64_t bound) { return static_cast<std::uint64_t>(uniform() * bound); }
    double exponential(double rate) { return -std::log(uniform()) / rate; }

    double normal() {  // Box-Muller; the second variate is dropped for simplicity
        constexpr double two_pi = 6.283185307179586;
        return std::sqrt(-2.0 * std::log(uniform())) * std::cos(two_pi * uniform());
    }

    // Gamma(shape, rate) by Marsaglia & Tsang (2000); shapes below 1 use the identity
    // Gamma(shape) = Gamma(shape + 1) * U^(1 / shape).
    double gamma(double shape, double rate) {
        if (shape < 1.0) return gamma(shape + 1.0, rate) * std::pow(uniform(), 1.0 / shape);
        const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
        while (true) {
            double z, v;
            do {
                z = normal();
                v = 1.0 + c * z;
            } while (v <= 0.0);
            v = v * v * v;
            if (std::log(uniform()) < 0.5 * z * z + d - d * v + d * std::log(v)) return d * v / rate;
        }
    }

    double beta(double a, double b) {
        const double x = gamma(a, 1.0);
        return x / (x + gamma(b, 1.0));
    }

private:
    std::mt19937_64 engine_;
};

}  // namespace loyalty::analytics
