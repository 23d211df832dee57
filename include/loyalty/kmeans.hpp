// k-means clustering (Lloyd's algorithm with k-means++ seeding) on dense row-major points,
// with k chosen by the mean silhouette, and plain-words descriptions of centroids.
//
// Choosing k: every k in [min_k, max_k] is fitted on an evenly strided sample of at most
// selection_sample points and scored by the mean silhouette on a strided sub-sample of at most
// silhouette_sample of them; the best score wins, ties to the smaller k. The winner's centroids
// then seed Lloyd's iterations on all points. Deterministic for a seed on every platform.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace loyalty::analytics {

struct KMeansConfig {
    std::size_t min_k = 2;
    std::size_t max_k = 8;
    std::uint64_t seed = 1;
    std::size_t max_iterations = 100;
    std::size_t selection_sample = 20'000;
    std::size_t silhouette_sample = 2'000;
};

struct Clustering {
    std::size_t k = 0;
    std::size_t dimensions = 0;
    std::vector<double> centroids;        // k x dimensions, row-major
    std::vector<std::uint32_t> assignment;  // one per point
    double silhouette = 0.0;              // of the chosen k on the selection sub-sample
};

// Lloyd's algorithm from k-means++ seeds (or from initial_centroids when given). Needs at
// least k points. A cluster that empties is re-seeded with the point farthest from its centroid.
Clustering kmeans(std::span<const double> points, std::size_t dimensions, std::size_t k,
                  std::uint64_t seed, std::size_t max_iterations,
                  std::span<const double> initial_centroids = {});

// Mean silhouette (Rousseeuw 1987) of an assignment; 0 for a single cluster.
double mean_silhouette(std::span<const double> points, std::size_t dimensions,
                       std::span<const std::uint32_t> assignment, std::size_t k);

// Chooses k as described above; fewer points than min_k gives one cluster (or none).
Clustering cluster_choosing_k(std::span<const double> points, std::size_t dimensions,
                              const KMeansConfig& config);

// Rescales each column to mean 0 and standard deviation 1 (constant columns become 0).
void standardise_columns(std::vector<double>& points, std::size_t dimensions);

struct FeatureWords {
    std::string low;   // said of a centroid well below the mean, e.g. "bought recently"
    std::string high;  // and well above it, e.g. "long since last purchase"
};

// The (up to) three features furthest from the mean, beyond half a standard deviation, in
// words: "frequent buyers, high spend, bought recently"; "close to the average member" if none.
std::string describe_centroid(std::span<const double> standardised_centroid,
                              std::span<const FeatureWords> words);

}  // namespace loyalty::analytics
