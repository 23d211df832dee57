#include "optimizer.hpp"

#include <algorithm>
#include <cmath>

namespace loyalty::analytics {
namespace {

using Vector = std::vector<double>;
using Matrix = std::vector<Vector>;

double dot(const Vector& left, const Vector& right) {
    double sum = 0.0;
    for (std::size_t i = 0; i < left.size(); ++i) sum += left[i] * right[i];
    return sum;
}

Matrix identity(std::size_t n) {
    Matrix matrix(n, Vector(n, 0.0));
    for (std::size_t i = 0; i < n; ++i) matrix[i][i] = 1.0;
    return matrix;
}

Vector times(const Matrix& matrix, const Vector& vector) {
    Vector product(vector.size());
    for (std::size_t i = 0; i < vector.size(); ++i) product[i] = dot(matrix[i], vector);
    return product;
}

double max_abs(const Vector& vector) {
    double largest = 0.0;
    for (const double value : vector) largest = std::max(largest, std::abs(value));
    return largest;
}

// The BFGS update of the inverse Hessian from step s and gradient change y. Skipped when the
// curvature s.y is not positive, which would make the matrix indefinite.
void update_inverse_hessian(Matrix& inverse, const Vector& s, const Vector& y) {
    const double curvature = dot(s, y);
    if (curvature <= 1e-12 * std::sqrt(dot(s, s) * dot(y, y))) return;
    const Vector hy = times(inverse, y);
    const double yhy = dot(y, hy);
    const std::size_t n = s.size();
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            inverse[i][j] += ((curvature + yhy) * s[i] * s[j]) / (curvature * curvature) -
                             (hy[i] * s[j] + s[i] * hy[j]) / curvature;
        }
    }
}

struct Point {
    Vector x;
    double value;
    Vector gradient;
};

// Backtracks from a full step until the Armijo condition holds; false when no step helps.
bool line_search(const Objective& objective, const Point& from, const Vector& direction, Point& to) {
    constexpr double sufficient_decrease = 1e-4;
    const double slope = dot(from.gradient, direction);
    double step = 1.0;
    for (int attempt = 0; attempt < 60; ++attempt, step *= 0.5) {
        for (std::size_t i = 0; i < from.x.size(); ++i) to.x[i] = from.x[i] + step * direction[i];
        to.value = objective(to.x, to.gradient);
        if (std::isfinite(to.value) && to.value <= from.value + sufficient_decrease * step * slope) {
            return true;
        }
    }
    return false;
}

}  // namespace

Minimum minimize_bfgs(const Objective& objective, std::vector<double> start,
                      std::size_t max_iterations, double gradient_tolerance) {
    const std::size_t n = start.size();
    Point current{std::move(start), 0.0, Vector(n)};
    current.value = objective(current.x, current.gradient);
    Point trial{current.x, 0.0, Vector(n)};
    Matrix inverse = identity(n);
    Minimum result;
    for (; result.iterations < max_iterations; ++result.iterations) {
        if (max_abs(current.gradient) < gradient_tolerance) {
            result.converged = true;
            break;
        }
        Vector direction = times(inverse, current.gradient);
        for (double& component : direction) component = -component;
        if (dot(direction, current.gradient) >= 0.0) {  // lost descent: restart as steepest
            inverse = identity(n);
            direction = current.gradient;
            for (double& component : direction) component = -component;
        }
        if (!line_search(objective, current, direction, trial)) {
            // No decrease along a descent direction: f is flat to machine precision here.
            result.converged = max_abs(current.gradient) < std::sqrt(gradient_tolerance);
            break;
        }
        Vector s(n), y(n);
        for (std::size_t i = 0; i < n; ++i) {
            s[i] = trial.x[i] - current.x[i];
            y[i] = trial.gradient[i] - current.gradient[i];
        }
        update_inverse_hessian(inverse, s, y);
        // Near the optimum rounding noise in f and its gradient can stall the gradient test;
        // a step that no longer changes f with a small gradient is the optimum at this precision.
        const bool stalled = std::abs(trial.value - current.value) <= 1e-15 * std::abs(current.value);
        std::swap(current, trial);
        if (stalled && max_abs(current.gradient) < std::sqrt(gradient_tolerance)) {
            result.converged = true;
            break;
        }
    }
    result.x = current.x;
    result.value = current.value;
    return result;
}

}  // namespace loyalty::analytics
