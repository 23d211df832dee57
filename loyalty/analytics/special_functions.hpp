// Private: Boost.Math special functions for the likelihoods, with a policy that returns NaN or
// infinity instead of throwing, because a line search legitimately probes parameters where a
// likelihood is undefined and then backs off.
#pragma once

#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/gamma.hpp>

namespace loyalty::analytics::special {

using QuietPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::pole_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>>;

inline double log_gamma(double x) { return boost::math::lgamma(x, QuietPolicy{}); }
inline double digamma(double x) { return boost::math::digamma(x, QuietPolicy{}); }

}  // namespace loyalty::analytics::special
