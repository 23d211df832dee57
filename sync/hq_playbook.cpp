#include "hq_playbook.hpp"

#include <algorithm>
#include <cmath>

namespace loyalty::hq {

namespace {

using nlohmann::json;

// A built-in play: 10% control, the offer's window set when the playbook runs.
Play built_in(std::string name, std::string campaign_name, json target, json offer) {
    Play built;
    built.name = std::move(name);
    built.campaign = {{"name", std::move(campaign_name)},
                      {"control_percent", 10},
                      {"target", std::move(target)},
                      {"offer", std::move(offer)}};
    return built;
}

// A play's campaign with its window: from `from`, valid_days long.
json with_window(const Play& play, Timestamp from) {
    json campaign = play.campaign;
    campaign["offer"]["valid_from"] = format_timestamp(from);
    campaign["offer"]["valid_until"] = format_timestamp(from + play.valid_days * seconds_per_day);
    return campaign;
}

// cross_sell's campaign for the rule antecedent -> consequent.
json cross_sell_campaign(const Play& play, const std::string& antecedent, const std::string& consequent) {
    json campaign = play.campaign;
    campaign["name"] = campaign.value("name", std::string("Cross-sell")) + ": " + antecedent + " -> " + consequent;
    json& tags = campaign["target"]["tags"];
    if (!tags.is_array()) tags = json::array();
    tags.push_back("category:" + antecedent);
    campaign["offer"]["categories"] = json::array({consequent});
    if (!campaign["offer"].contains("title"))
        campaign["offer"]["title"] = "Extra points on " + consequent;
    return campaign;
}

// The CLV at percentile `percent` (nearest rank) among the latest run's members with one.
std::optional<double> clv_at_percentile(HqStore& store, double percent) {
    std::vector<double> values;
    MemberSegmentFilter filter;
    filter.limit = 10'000;
    for (;;) {
        const std::vector<MemberSegment> page = store.members_in_latest_run(filter);
        for (const MemberSegment& row : page)
            if (row.clv) values.push_back(*row.clv);
        if (page.size() < filter.limit) break;
        filter.after_member_id = page.back().member_id;
    }
    if (values.empty()) return std::nullopt;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(std::ceil(percent / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

struct Draft {
    std::string play;  // the play's key, unique per run ("cross_sell:wine->cheese")
    json campaign;
};

std::vector<Draft> drafts_of(const Play& play, const SegmentRun& run, HqStore& store, Timestamp now) {
    if (play.name != "cross_sell") {
        Draft draft{play.name, with_window(play, now)};
        json& target = draft.campaign["target"];
        if (play.clv_percentile && !target.contains("min_clv"))
            if (const auto threshold = clv_at_percentile(store, *play.clv_percentile)) target["min_clv"] = *threshold;
        return {draft};
    }
    std::vector<Draft> drafts;
    if (run.parameters.value("basket_item", std::string("category")) != "category") return drafts;
    for (const json& rule : run.report.value("rules", json::array())) {
        if (static_cast<std::int64_t>(drafts.size()) >= play.max_campaigns) break;
        const json& antecedent = rule.at("antecedent");
        const json& consequent = rule.at("consequent");
        if (antecedent.size() != 1 || consequent.size() != 1) continue;
        const std::string from = antecedent[0].get<std::string>(), to = consequent[0].get<std::string>();
        Play windowed = play;
        windowed.campaign = cross_sell_campaign(play, from, to);
        drafts.push_back({play.name + ":" + from + "->" + to, with_window(windowed, now)});
    }
    return drafts;
}

// Checks a play as configured by drafting it with a stand-in window and rule.
void check_play(JsonReader& reader, const Play& play) {
    Play stand_in = play;
    if (play.name == "cross_sell") stand_in.campaign = cross_sell_campaign(play, "a", "b");
    if (const auto parsed = parse_campaign(with_window(stand_in, 0)); !parsed)
        reader.fail(parsed.error().field, "is refused: " + parsed.error().message);
}

}  // namespace

Playbook default_playbook() {
    Playbook playbook;
    Play win_back = built_in("win_back", "Win back", {{"segments", {"At Risk", "Can't Lose Them"}}},
                             {{"kind", "bonus_points"},
                              {"title", "500 bonus points when you spend 20.00: we miss you"},
                              {"bonus_points", 500},
                              {"min_spend_cents", 2000}});
    win_back.clv_percentile = 50.0;
    playbook.plays.push_back(win_back);
    playbook.plays.push_back(built_in("exclusive", "Exclusive: double points", {{"value_tier", "high_value"}},
                                      {{"kind", "points_multiplier"},
                                       {"title", "Double points, for our best customers"},
                                       {"multiplier_percent", 200},
                                       {"uses_per_member", 3}}));
    playbook.plays.push_back(built_in("second_purchase", "Second purchase", {{"lifecycle", "new"}},
                                      {{"kind", "amount_discount"},
                                       {"title", "5.00 off your next visit over 25.00"},
                                       {"discount_cents", 500},
                                       {"min_spend_cents", 2500}}));
    Play cross_sell = built_in("cross_sell", "Cross-sell", json::object(),
                               {{"kind", "points_multiplier"}, {"multiplier_percent", 300}});
    cross_sell.max_campaigns = 3;
    playbook.plays.push_back(cross_sell);
    playbook.plays.push_back(built_in("value", "Value", {{"tags", {"price_sensitive"}}},
                                      {{"kind", "percent_discount"},
                                       {"title", "10% off your basket"},
                                       {"discount_percent", 10}}));
    return playbook;
}

void read_playbook(JsonReader& reader, Playbook& playbook) {
    const json* section = reader.object("playbook");
    if (!section) return;
    JsonReader plays(*section, reader.path("playbook"));
    for (const auto& [name, ignored] : section->items())
        if (std::none_of(playbook.plays.begin(), playbook.plays.end(), [&](const Play& p) { return p.name == name; }))
            plays.fail(name, "is not a play: the plays are win_back, exclusive, second_purchase, cross_sell, value");
    for (Play& play : playbook.plays) {
        const json* entry = plays.object(play.name);
        if (!entry || !plays.ok()) continue;
        JsonReader fields(*entry, plays.path(play.name));
        play.enabled = fields.boolean("enabled", play.enabled);
        play.valid_days = fields.integer("valid_days", 1, 366, play.valid_days);
        if (entry->contains("name")) play.campaign["name"] = fields.text("name", 200);
        if (entry->contains("control_percent"))
            play.campaign["control_percent"] =
                static_cast<double>(fields.hundredths("control_percent", 0, 9000)) / 100.0;
        for (const char* part : {"target", "offer"})
            if (const json* patch = fields.object(part)) play.campaign[part].merge_patch(*patch);
        if (play.name == "win_back" && entry->contains("clv_percentile"))
            play.clv_percentile = static_cast<double>(fields.integer("clv_percentile", 0, 100));
        if (play.name == "cross_sell") play.max_campaigns = fields.integer("max_campaigns", 1, 20, play.max_campaigns);
        const char* own = play.name == "win_back" ? "clv_percentile" : play.name == "cross_sell" ? "max_campaigns" : "name";
        fields.only({"enabled", "valid_days", "name", "control_percent", "target", "offer", own});
        if (fields.ok()) check_play(fields, play);
        plays.adopt(fields);
    }
    reader.adopt(plays);
}

Result<PlaybookOutcome> run_playbook(Campaigns& campaigns, const Playbook& playbook) {
    HqStore& store = campaigns.store();
    const std::vector<SegmentRun> latest = store.segment_runs(1);
    if (latest.empty())
        return Error{ErrorKind::refused, "no_segmentation_run",
                     "the playbook drafts campaigns from a segmentation run; make one with loyalty-hq segment --as-of DATE",
                     ""};
    const SegmentRun run = *store.segment_run(latest.front().run_id);
    PlaybookOutcome outcome;
    outcome.run_id = run.run_id;
    const Timestamp now = campaigns.clock().now();
    for (const Play& play : playbook.plays) {
        if (!play.enabled) {
            outcome.skipped.emplace_back(play.name, "turned off in the config");
            continue;
        }
        const std::vector<Draft> drafts = drafts_of(play, run, store, now);
        if (drafts.empty()) outcome.skipped.emplace_back(play.name, "the run has no cross-sell rule between categories");
        for (const Draft& draft : drafts) {
            if (campaigns.find_play(draft.play, run.run_id)) {
                outcome.skipped.emplace_back(draft.play, "already drafted from run " + std::to_string(run.run_id));
                continue;
            }
            auto campaign = parse_campaign(draft.campaign);
            if (!campaign) return campaign.error();
            campaign->play = draft.play;
            campaign->play_run_id = run.run_id;
            auto created = campaigns.create(std::move(*campaign));
            if (!created) return created.error();
            outcome.created.push_back(std::move(*created));
        }
    }
    return outcome;
}

json playbook_outcome_json(const PlaybookOutcome& outcome) {
    json created = json::array(), skipped = json::array();
    for (const Campaign& campaign : outcome.created) created.push_back(campaign_json(campaign));
    for (const auto& [play, why] : outcome.skipped) skipped.push_back({{"play", play}, {"reason", why}});
    return {{"run_id", outcome.run_id}, {"created", created}, {"skipped", skipped}};
}

}  // namespace loyalty::hq
