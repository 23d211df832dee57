// Private: a small quasi-Newton minimiser shared by the BG/NBD and Gamma-Gamma fits.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace loyalty::analytics {

// Returns f(x) and writes its gradient; may return a non-finite value where f is undefined,
// which the line search treats as "step too long".
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& gradient)>;

struct Minimum {
    std::vector<double> x;
    double value = 0.0;
    std::size_t iterations = 0;
    bool converged = false;
};

// BFGS with an Armijo backtracking line search. Converged when the largest gradient component
// is below gradient_tolerance, or below its square root once steps no longer change f.
Minimum minimize_bfgs(const Objective& objective, std::vector<double> start,
                      std::size_t max_iterations = 500, double gradient_tolerance = 1e-9);

}  // namespace loyalty::analytics
