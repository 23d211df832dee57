#include "loyalty/kmeans.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

using namespace loyalty::analytics;

namespace {

// Three tight, well separated groups of 40 points in the plane.
std::vector<double> three_blobs() {
    const double centres[3][2] = {{0, 0}, {10, 0}, {0, 10}};
    std::vector<double> points;
    for (int i = 0; i < 120; ++i) {
        const double jitter_x = std::sin(i * 1.7) * 0.5, jitter_y = std::cos(i * 2.3) * 0.5;
        points.push_back(centres[i % 3][0] + jitter_x);
        points.push_back(centres[i % 3][1] + jitter_y);
    }
    return points;
}

}  // namespace

TEST_CASE("Silhouette of two tight pairs matches the hand computation") {
    const std::vector<double> points = {0, 0, 0, 1, 10, 0, 10, 1};
    const std::vector<std::uint32_t> labels = {0, 0, 1, 1};
    // Every point: a = 1, b = (10 + sqrt(101)) / 2, s = 1 - a / b.
    CHECK(mean_silhouette(points, 2, labels, 2) == Approx(1.0 - 2.0 / (10.0 + std::sqrt(101.0))));
    CHECK(mean_silhouette(points, 2, labels, 1) == 0.0);
}

TEST_CASE("k-means finds three separated groups and chooses k = 3 by silhouette") {
    const auto points = three_blobs();
    const Clustering clustering = cluster_choosing_k(points, 2, KMeansConfig{});
    REQUIRE(clustering.k == 3);
    CHECK(clustering.silhouette > 0.9);
    for (int group = 0; group < 3; ++group) {
        std::set<std::uint32_t> labels;
        for (int i = group; i < 120; i += 3) labels.insert(clustering.assignment[i]);
        CHECK(labels.size() == 1);
    }
    std::set<std::uint32_t> distinct(clustering.assignment.begin(), clustering.assignment.end());
    CHECK(distinct.size() == 3);
}

TEST_CASE("k-means is deterministic for a seed") {
    const auto points = three_blobs();
    const Clustering first = kmeans(points, 2, 4, 99, 100);
    const Clustering second = kmeans(points, 2, 4, 99, 100);
    CHECK(first.assignment == second.assignment);
    CHECK(first.centroids == second.centroids);
}

TEST_CASE("Standardised columns have mean 0 and deviation 1, constant columns become 0") {
    std::vector<double> points = {1, 5, 2, 5, 3, 5, 6, 5};
    standardise_columns(points, 2);
    double sum = 0, squares = 0;
    for (int i = 0; i < 4; ++i) {
        sum += points[i * 2];
        squares += points[i * 2] * points[i * 2];
        CHECK(points[i * 2 + 1] == 0.0);
    }
    CHECK(sum == Approx(0.0).margin(1e-12));
    CHECK(squares / 4 == Approx(1.0));
}

TEST_CASE("Centroids are described by their most distinctive features") {
    const std::vector<FeatureWords> words = {{"bought recently", "long since last purchase"},
                                             {"infrequent buyers", "frequent buyers"},
                                             {"low spend", "high spend"},
                                             {"little Dairy", "much Dairy"}};
    const std::vector<double> centroid = {-1.2, 2.0, 0.7, 0.1};
    CHECK(describe_centroid(centroid, words) == "frequent buyers, bought recently, high spend");
    const std::vector<double> average = {0.1, -0.2, 0.3, 0.0};
    CHECK(describe_centroid(average, words) == "close to the average member");
}
