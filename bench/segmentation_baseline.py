#!/usr/bin/python3
"""The Python baseline for bench/rfm_kmeans_bench.cpp: the same RFM scores and k-means on the
same CSV export, with pandas and numpy, then a check that both agree.

    segmentation_baseline.py TRANSACTIONS.csv CPP_RESULTS_DIR

CPP_RESULTS_DIR is what `rfm_kmeans_bench --csv ... --out DIR` wrote: params.json (as-of day,
window, k, the k-means++ seeds, the inertia) and rfm.csv (every scored member's scores).
Definitions, as in loyalty/analytics (member_activity.hpp, rfm.hpp, kmeans.hpp):
- a purchase occasion is a day with a line of positive amount; only members with one are scored;
- recency: days from the last occasion to as_of; frequency: occasions in the window (the
  window_days up to as_of); monetary: net spend in the window, returns included;
- score 1 + floor(5 p / n), p the 0-based position of the first member with the same value
  (rank(method="min")); a smaller recency scores higher;
- k-means on recency, log1p(frequency), log1p(max(monetary in currency units, 0)), each column
  z-scored with the population deviation; Lloyd's iterations from the C++ side's seeds until
  no assignment changes (at most max_iterations); an emptied cluster takes the point farthest
  from its centroid.
scikit-learn's KMeans(init=seeds, n_init=1, algorithm="lloyd") would do the same, but Debian 12
cannot install it beside the project's Boost 1.81 (python3-scipy needs python3-pythran, which
needs libboost-dev 1.74), so Lloyd's iterations are written here with numpy.

Prints each step's wall time and the peak resident memory; exits 1 if a score differs or the
inertia differs by 1% or more.
"""
import json
import resource
import sys
import time

import numpy as np
import pandas as pd


def read_lines(path):
    lines = pd.read_csv(path, usecols=["member_id", "date", "amount"],
                        dtype={"member_id": str, "date": str, "amount": float})
    # Few distinct dates: convert each once.
    codes, dates = pd.factorize(lines["date"])
    days = (pd.to_datetime(dates, format="%Y-%m-%d") - pd.Timestamp("1970-01-01")).days.to_numpy()
    return pd.DataFrame({"member_id": lines["member_id"], "day": days[codes],
                         "cents": np.rint(lines["amount"].to_numpy() * 100).astype(np.int64)})


def member_scan(lines, as_of, window_days):
    lines = lines[lines["day"] <= as_of]
    window_start = as_of - window_days + 1
    occasions = lines.loc[lines["cents"] > 0, ["member_id", "day"]].drop_duplicates()
    last_day = occasions.groupby("member_id")["day"].max()
    in_window = occasions[occasions["day"] >= window_start]
    frequency = in_window.groupby("member_id").size().reindex(last_day.index, fill_value=0)
    monetary = (lines[lines["day"] >= window_start].groupby("member_id")["cents"].sum()
                .reindex(last_day.index, fill_value=0))
    return pd.DataFrame({"recency_days": as_of - last_day, "frequency": frequency, "monetary_cents": monetary})


def quintile(values):
    first_position = values.rank(method="min").to_numpy(dtype=np.int64) - 1
    return 1 + 5 * first_position // len(values)


def features(rfm):
    columns = np.column_stack([rfm["recency_days"].to_numpy(dtype=float),
                               np.log1p(rfm["frequency"].to_numpy(dtype=float)),
                               np.log1p(np.maximum(rfm["monetary_cents"].to_numpy() / 100.0, 0.0))])
    deviation = columns.std(axis=0)
    safe = np.where(deviation > 0, deviation, 1.0)
    return np.where(deviation > 0, (columns - columns.mean(axis=0)) / safe, 0.0)


def squared_distances(points, centroids):
    return np.column_stack([((points - centroid) ** 2).sum(axis=1) for centroid in centroids])


def lloyd(points, centroids, max_iterations):
    labels = np.full(len(points), -1)
    for _ in range(max_iterations):
        assigned = squared_distances(points, centroids).argmin(axis=1)
        if np.array_equal(assigned, labels):
            break
        labels = assigned
        counts = np.bincount(labels, minlength=len(centroids))
        for d in range(points.shape[1]):
            sums = np.bincount(labels, weights=points[:, d], minlength=len(centroids))
            centroids[counts > 0, d] = sums[counts > 0] / counts[counts > 0]
        for empty in np.flatnonzero(counts == 0):
            farthest = ((points - centroids[labels]) ** 2).sum(axis=1).argmax()
            centroids[empty] = points[farthest]
            labels[farthest] = empty
    inertia = ((points - centroids[labels]) ** 2).sum()
    return labels, inertia


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    csv_path, cpp_dir = sys.argv[1], sys.argv[2]
    with open(f"{cpp_dir}/params.json") as file:
        params = json.load(file)
    timings = {}
    started = time.perf_counter()

    def lap(name):
        nonlocal started
        now = time.perf_counter()
        timings[name] = now - started
        started = now

    lines = read_lines(csv_path)
    lap("read_csv")
    rfm = member_scan(lines, params["as_of_day"], params["window_days"])
    lap("member_scan")
    rfm["r"] = quintile(-rfm["recency_days"])
    rfm["f"] = quintile(rfm["frequency"])
    rfm["m"] = quintile(rfm["monetary_cents"])
    lap("rfm_scores")
    points = features(rfm)
    lap("features")
    seeds = np.array(params["seeds"], dtype=float).reshape(params["k"], points.shape[1])
    _, inertia = lloyd(points, seeds, params["max_iterations"])
    lap("kmeans")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    total = sum(timings.values())
    print(f"Python (pandas {pd.__version__}, numpy {np.__version__}), {len(lines)} lines, "
          f"{len(rfm)} scored members, k={params['k']}")
    for name, seconds in timings.items():
        print(f"  {name:<12} {seconds:8.2f} s   (C++ {params['seconds'][name]:.2f} s)")
    print(f"  {'total':<12} {total:8.2f} s, peak RSS {peak_mib:.0f} MiB, inertia {inertia:.6f}")
    print(f"Python / C++: {total / params['total_seconds']:.1f}x the time, "
          f"{peak_mib / params['peak_mib']:.1f}x the peak memory")

    cpp = pd.read_csv(f"{cpp_dir}/rfm.csv", dtype={"member_id": str}).set_index("member_id")
    columns = ["recency_days", "frequency", "monetary_cents", "r", "f", "m"]
    joined = rfm[columns].join(cpp[columns], how="outer", rsuffix="_cpp")
    differing = sum(int((joined[c] != joined[c + "_cpp"]).sum()) for c in columns)
    relative = abs(inertia - params["inertia"]) / params["inertia"]
    print(f"check: {len(joined)} members, {differing} differing values; "
          f"inertia {inertia:.6f} vs {params['inertia']:.6f} ({relative:.2e} apart)")
    if differing or relative >= 0.01:
        print("CORRECTNESS CHECK FAILED")
        return 1
    print("correctness check passed: RFM identical, inertia within 1%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
