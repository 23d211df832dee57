#include "loyalty/kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>
#include <utility>

#include "random.hpp"

namespace loyalty::analytics {
namespace {

double squared_distance(const double* left, const double* right, std::size_t dimensions) {
    double sum = 0.0;
    for (std::size_t d = 0; d < dimensions; ++d) sum += (left[d] - right[d]) * (left[d] - right[d]);
    return sum;
}

struct Nearest {
    std::uint32_t cluster;
    double distance;
};

Nearest nearest(const double* point, const std::vector<double>& centroids, std::size_t dimensions) {
    Nearest best{0, std::numeric_limits<double>::infinity()};
    for (std::size_t c = 0; c * dimensions < centroids.size(); ++c) {
        const double distance = squared_distance(point, &centroids[c * dimensions], dimensions);
        if (distance < best.distance) best = {static_cast<std::uint32_t>(c), distance};
    }
    return best;
}

// k-means++ (Arthur & Vassilvitskii 2007): each next seed is drawn with probability
// proportional to its squared distance from the seeds so far.
std::vector<double> seed_plus_plus(std::span<const double> points, std::size_t dimensions,
                                   std::size_t k, Random& random) {
    const std::size_t n = points.size() / dimensions;
    std::vector<double> centroids;
    centroids.reserve(k * dimensions);
    const auto append = [&](std::size_t i) {
        centroids.insert(centroids.end(), points.begin() + static_cast<std::ptrdiff_t>(i * dimensions),
                         points.begin() + static_cast<std::ptrdiff_t>((i + 1) * dimensions));
    };
    append(random.below(n));
    std::vector<double> distances(n, std::numeric_limits<double>::infinity());
    while (centroids.size() < k * dimensions) {
        const double* newest = &centroids[centroids.size() - dimensions];
        double total = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            distances[i] = std::min(distances[i], squared_distance(&points[i * dimensions], newest, dimensions));
            total += distances[i];
        }
        double target = random.uniform() * total;
        std::size_t chosen = 0;
        while (chosen + 1 < n && (target -= distances[chosen]) > 0.0) ++chosen;
        append(chosen);
    }
    return centroids;
}

void recompute_centroids(std::span<const double> points, Clustering& clustering) {
    const std::size_t dimensions = clustering.dimensions;
    std::vector<double> sums(clustering.centroids.size(), 0.0);
    std::vector<std::size_t> counts(clustering.k, 0);
    for (std::size_t i = 0; i < clustering.assignment.size(); ++i) {
        const std::uint32_t c = clustering.assignment[i];
        ++counts[c];
        for (std::size_t d = 0; d < dimensions; ++d) sums[c * dimensions + d] += points[i * dimensions + d];
    }
    for (std::size_t c = 0; c < clustering.k; ++c) {
        if (counts[c] == 0) continue;
        for (std::size_t d = 0; d < dimensions; ++d) {
            clustering.centroids[c * dimensions + d] = sums[c * dimensions + d] / static_cast<double>(counts[c]);
        }
    }
    for (std::size_t c = 0; c < clustering.k; ++c) {
        if (counts[c] > 0) continue;
        // Move the empty centroid onto the worst-served point so that k clusters remain.
        std::size_t farthest = 0;
        double worst = -1.0;
        for (std::size_t i = 0; i < clustering.assignment.size(); ++i) {
            const double distance = squared_distance(
                &points[i * dimensions], &clustering.centroids[clustering.assignment[i] * dimensions], dimensions);
            if (distance > worst) std::tie(worst, farthest) = std::pair{distance, i};
        }
        std::copy_n(&points[farthest * dimensions], dimensions, &clustering.centroids[c * dimensions]);
        clustering.assignment[farthest] = static_cast<std::uint32_t>(c);
    }
}

bool assign(std::span<const double> points, Clustering& clustering) {
    bool changed = false;
    for (std::size_t i = 0; i < clustering.assignment.size(); ++i) {
        const std::uint32_t best = nearest(&points[i * clustering.dimensions], clustering.centroids,
                                           clustering.dimensions).cluster;
        changed |= best != clustering.assignment[i];
        clustering.assignment[i] = best;
    }
    return changed;
}

std::vector<double> strided_sample(std::span<const double> points, std::size_t dimensions, std::size_t limit) {
    const std::size_t n = points.size() / dimensions;
    if (n <= limit) return {points.begin(), points.end()};
    std::vector<double> sample;
    sample.reserve(limit * dimensions);
    for (std::size_t j = 0; j < limit; ++j) {
        const std::size_t i = j * n / limit;
        sample.insert(sample.end(), points.begin() + static_cast<std::ptrdiff_t>(i * dimensions),
                      points.begin() + static_cast<std::ptrdiff_t>((i + 1) * dimensions));
    }
    return sample;
}

}  // namespace

Clustering kmeans(std::span<const double> points, std::size_t dimensions, std::size_t k,
                  std::uint64_t seed, std::size_t max_iterations, std::span<const double> initial_centroids) {
    Random random(seed);
    Clustering clustering;
    clustering.k = k;
    clustering.dimensions = dimensions;
    clustering.centroids = initial_centroids.empty()
                               ? seed_plus_plus(points, dimensions, k, random)
                               : std::vector<double>(initial_centroids.begin(), initial_centroids.end());
    clustering.assignment.assign(points.size() / dimensions, std::numeric_limits<std::uint32_t>::max());
    for (std::size_t iteration = 0; iteration < max_iterations && assign(points, clustering); ++iteration) {
        recompute_centroids(points, clustering);
    }
    return clustering;
}

double mean_silhouette(std::span<const double> points, std::size_t dimensions,
                       std::span<const std::uint32_t> assignment, std::size_t k) {
    if (k < 2) return 0.0;
    const std::size_t n = assignment.size();
    std::vector<std::size_t> sizes(k, 0);
    for (const std::uint32_t c : assignment) ++sizes[c];
    double total = 0.0;
    std::vector<double> distance_sums(k);
    for (std::size_t i = 0; i < n; ++i) {
        std::fill(distance_sums.begin(), distance_sums.end(), 0.0);
        for (std::size_t j = 0; j < n; ++j) {
            distance_sums[assignment[j]] +=
                std::sqrt(squared_distance(&points[i * dimensions], &points[j * dimensions], dimensions));
        }
        const std::uint32_t own = assignment[i];
        if (sizes[own] < 2) continue;  // a singleton's silhouette is 0 by convention
        const double cohesion = distance_sums[own] / static_cast<double>(sizes[own] - 1);
        double separation = std::numeric_limits<double>::infinity();
        for (std::size_t c = 0; c < k; ++c) {
            if (c != own && sizes[c] > 0) separation = std::min(separation, distance_sums[c] / static_cast<double>(sizes[c]));
        }
        const double spread = std::max(cohesion, separation);
        if (spread > 0.0) total += (separation - cohesion) / spread;
    }
    return total / static_cast<double>(n);
}

Clustering cluster_choosing_k(std::span<const double> points, std::size_t dimensions, const KMeansConfig& config) {
    const std::size_t n = points.size() / dimensions;
    if (n == 0) return {};
    if (n < config.min_k) return kmeans(points, dimensions, 1, config.seed, config.max_iterations);
    const std::vector<double> sample = strided_sample(points, dimensions, config.selection_sample);
    const std::vector<double> silhouette_points = strided_sample(sample, dimensions, config.silhouette_sample);
    Clustering best;
    best.silhouette = -std::numeric_limits<double>::infinity();
    for (std::size_t k = config.min_k; k <= config.max_k && k <= sample.size() / dimensions; ++k) {
        Clustering candidate = kmeans(sample, dimensions, k, config.seed + k, config.max_iterations);
        std::vector<std::uint32_t> labels(silhouette_points.size() / dimensions);
        for (std::size_t i = 0; i < labels.size(); ++i) {
            labels[i] = nearest(&silhouette_points[i * dimensions], candidate.centroids, dimensions).cluster;
        }
        candidate.silhouette = mean_silhouette(silhouette_points, dimensions, labels, k);
        if (candidate.silhouette > best.silhouette) best = std::move(candidate);
    }
    const double silhouette = best.silhouette;
    Clustering full = kmeans(points, dimensions, best.k, config.seed, config.max_iterations, best.centroids);
    full.silhouette = silhouette;
    return full;
}

void standardise_columns(std::vector<double>& points, std::size_t dimensions) {
    const std::size_t n = points.size() / dimensions;
    if (n == 0) return;
    for (std::size_t d = 0; d < dimensions; ++d) {
        double sum = 0.0, squares = 0.0;
        for (std::size_t i = 0; i < n; ++i) sum += points[i * dimensions + d];
        const double mean = sum / static_cast<double>(n);
        for (std::size_t i = 0; i < n; ++i) squares += std::pow(points[i * dimensions + d] - mean, 2);
        const double deviation = std::sqrt(squares / static_cast<double>(n));
        for (std::size_t i = 0; i < n; ++i) {
            double& value = points[i * dimensions + d];
            value = deviation > 0.0 ? (value - mean) / deviation : 0.0;
        }
    }
}

std::string describe_centroid(std::span<const double> standardised_centroid, std::span<const FeatureWords> words) {
    constexpr double notable = 0.5;  // standard deviations from the mean
    std::vector<std::size_t> features(standardised_centroid.size());
    std::iota(features.begin(), features.end(), 0u);
    std::stable_sort(features.begin(), features.end(), [&](std::size_t left, std::size_t right) {
        return std::abs(standardised_centroid[left]) > std::abs(standardised_centroid[right]);
    });
    std::string description;
    for (std::size_t i = 0; i < features.size() && i < 3; ++i) {
        const double z = standardised_centroid[features[i]];
        if (std::abs(z) < notable) break;
        if (!description.empty()) description += ", ";
        description += z > 0 ? words[features[i]].high : words[features[i]].low;
    }
    return description.empty() ? "close to the average member" : description;
}

}  // namespace loyalty::analytics
