// The built-in playbook: campaigns head office drafts from the latest segmentation run.
//
//   win_back         members "At Risk" or "Can't Lose Them" whose CLV is in the top half
//   exclusive        value tier high_value: double points
//   second_purchase  lifecycle new: an amount off the next visit
//   cross_sell       one campaign per cross-sell rule X -> Y of the run (categories): members
//                    tagged category:X earn extra points on Y
//   value            tag price_sensitive: a percent discount
//
// Each play is an entry of loyalty-hq's config, "playbook": {"win_back": {"enabled": false},
// "value": {"offer": {"discount_percent": 15}}, ...}: "enabled", "valid_days", "name",
// "control_percent", and "target"/"offer" merged over the built-in ones (RFC 7386 merge patch),
// plus "clv_percentile" (win_back) and "max_campaigns" (cross_sell). Plays make drafts; each
// play runs once per segmentation run (running the playbook again makes nothing new).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hq_campaigns.hpp"
#include "loyalty/json_reader.hpp"

namespace loyalty::hq {

struct Play {
    std::string name;  // win_back, exclusive, second_purchase, cross_sell, value
    bool enabled = true;
    std::int64_t valid_days = 28;   // the offer runs from the playbook's run for this long
    nlohmann::json campaign;        // name, control_percent, target, offer (without its window)
    std::optional<double> clv_percentile;  // win_back: min_clv is this percentile of the run's CLV
    std::int64_t max_campaigns = 1;        // cross_sell: campaigns from the best rules
};

struct Playbook {
    std::vector<Play> plays;  // in the order above
};

Playbook default_playbook();
// The config's "playbook" section over the defaults; errors name the field
// ("playbook.value.offer.discount_percent").
void read_playbook(JsonReader& reader, Playbook& playbook);

struct PlaybookOutcome {
    std::int64_t run_id = 0;
    std::vector<Campaign> created;
    std::vector<std::pair<std::string, std::string>> skipped;  // play, why
};

// Drafts a campaign for each enabled play from the latest segmentation run (refused without
// one). A play already drafted from that run is skipped.
Result<PlaybookOutcome> run_playbook(Campaigns& campaigns, const Playbook& playbook);
nlohmann::json playbook_outcome_json(const PlaybookOutcome& outcome);

}  // namespace loyalty::hq
