#include "hq_campaigns.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include "loyalty/engagement.hpp"
#include "loyalty/json_reader.hpp"
#include "loyalty/store.hpp"

namespace loyalty::hq {

namespace {

using nlohmann::json;

// Campaigns and their members. A campaign's members are fixed once, at its first launch:
// rows are written in batches, then members_fixed_at in the last commit; a launch that finds
// rows without members_fixed_at (a crash part-way) removes them and starts again.
constexpr std::string_view campaigns_schema_v1 = R"sql(
CREATE TABLE campaigns (
    number               INTEGER PRIMARY KEY,
    campaign_id          TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('draft', 'active', 'paused', 'ended')),
    target               TEXT NOT NULL,
    control_basis_points INTEGER NOT NULL,
    offer                TEXT NOT NULL,
    play                 TEXT NOT NULL DEFAULT '',
    play_run_id          INTEGER,
    run_id               INTEGER,
    members_fixed_at     INTEGER,
    created_at           INTEGER NOT NULL,
    launched_at          INTEGER,
    ended_at             INTEGER,
    end_reason           TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX campaigns_by_play ON campaigns(play, play_run_id) WHERE play <> '';

CREATE TABLE campaign_members (
    campaign_id TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    treated     INTEGER NOT NULL CHECK (treated IN (0, 1)),
    PRIMARY KEY (campaign_id, member_id)
) STRICT, WITHOUT ROWID;
)sql";

constexpr std::size_t members_per_commit = 5'000;
constexpr std::size_t members_per_assignment = 500;  // HqStore::assign_offer's chunk
constexpr std::size_t targets_per_page = 1'000;
constexpr std::size_t max_uploaded_members = 1'000'000;
constexpr std::int64_t max_control_basis_points = 9'000;

constexpr std::pair<CampaignStatus, const char*> status_names[] = {{CampaignStatus::draft, "draft"},
                                                                   {CampaignStatus::active, "active"},
                                                                   {CampaignStatus::paused, "paused"},
                                                                   {CampaignStatus::ended, "ended"}};

constexpr const char* value_tiers[] = {"high_value", "regular", "potential"};
constexpr const char* lifecycles[] = {"never_purchased", "new", "active", "at_risk", "lapsed", "churned"};

CampaignStatus status_from_string(const std::string& text) {
    for (const auto& [value, name] : status_names)
        if (text == name) return value;
    throw std::runtime_error("campaigns: unknown status " + text);
}

template <std::size_t N>
bool one_of(const std::string& text, const char* const (&names)[N]) {
    return std::find(std::begin(names), std::end(names), text) != std::end(names);
}

// A number in [low, high], absent: nullopt (JsonReader reads whole numbers and hundredths only).
std::optional<double> decimal(JsonReader& reader, const json& object, const char* key, double low, double high) {
    const auto found = object.find(key);
    if (found == object.end() || found->is_null()) return std::nullopt;
    if (!found->is_number() || found->get<double>() < low || found->get<double>() > high) {
        reader.fail(key, "must be a number from " + json(low).dump() + " to " + json(high).dump());
        return std::nullopt;
    }
    return found->get<double>();
}

std::optional<std::string> choice(JsonReader& reader, const json& object, const char* key,
                                  const std::vector<std::string>& allowed) {
    if (!object.contains(key)) return std::nullopt;
    const std::string text = reader.text(key, 100);
    if (!reader.ok()) return std::nullopt;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), text) == allowed.end()) {
        std::string names;
        for (const std::string& name : allowed) names += (names.empty() ? "" : ", ") + name;
        reader.fail(key, "must be one of " + names);
    }
    return text;
}

Result<CampaignTarget> parse_target(const json& object) {
    JsonReader reader(object, "target");
    CampaignTarget target;
    MemberSegmentFilter& filter = target.segment;
    filter.segments = reader.strings("segments", 100, 100);
    filter.tags = reader.strings("tags", 100, 100);
    filter.value_tier = choice(reader, object, "value_tier", {std::begin(value_tiers), std::end(value_tiers)});
    filter.lifecycle = choice(reader, object, "lifecycle", {std::begin(lifecycles), std::end(lifecycles)});
    filter.min_clv = decimal(reader, object, "min_clv", -1e12, 1e12);
    filter.max_clv = decimal(reader, object, "max_clv", -1e12, 1e12);
    filter.min_churn_probability = decimal(reader, object, "min_churn_probability", 0.0, 1.0);
    if (object.contains("cluster")) filter.cluster = reader.integer("cluster", 0, 1000);
    target.tier = choice(reader, object, "tier", {});
    target.satisfaction = choice(reader, object, "satisfaction", {"satisfied", "neutral", "unsatisfied"});
    target.members = reader.strings("members", max_uploaded_members, 64);
    reader.only({"segments", "tags", "value_tier", "lifecycle", "min_clv", "max_clv", "min_churn_probability",
                 "cluster", "tier", "satisfaction", "members"});
    if (reader.ok() && filter.min_clv && filter.max_clv && *filter.min_clv > *filter.max_clv)
        reader.fail("max_clv", "must not be below min_clv");
    if (!reader.ok()) return reader.error();
    std::sort(target.members.begin(), target.members.end());
    target.members.erase(std::unique(target.members.begin(), target.members.end()), target.members.end());
    return target;
}

// The offer as the campaign's body gives it: every field but the ones head office sets.
Result<Offer> parse_offer_template(const json& object) {
    for (const char* key : {"offer_id", "campaign_id", "status"})
        if (object.contains(key))
            return invalid(std::string("offer.") + key,
                           std::string("offer.") + key +
                               " is set by head office (the offer of campaign C1 is C1-O1; launch, pause and end "
                               "set its status); leave it out");
    json complete = object;
    complete["offer_id"] = "C0-O1";  // replaced by the real id when the campaign is created
    return parse_offer(complete);
}

void mint_ids(Campaign& campaign, std::int64_t number) {
    campaign.campaign_id = "C" + std::to_string(number);
    campaign.offer.campaign_id = campaign.campaign_id;
    campaign.offer.offer_id = campaign.campaign_id + "-O1";
}

constexpr const char* campaign_columns =
    "campaign_id, name, status, target, control_basis_points, offer, play, play_run_id, run_id, created_at, "
    "launched_at, ended_at, end_reason";

Campaign read_campaign(const Statement& row) {
    Campaign campaign;
    campaign.campaign_id = row.text(0);
    campaign.name = row.text(1);
    campaign.status = status_from_string(row.text(2));
    auto target = parse_target(json::parse(row.text(3)));
    auto offer = parse_offer(json::parse(row.text(5)));
    if (!target || !offer) throw std::runtime_error("campaigns: stored campaign " + campaign.campaign_id + " is unreadable");
    campaign.target = std::move(*target);
    campaign.control_basis_points = row.integer(4);
    campaign.offer = std::move(*offer);
    campaign.play = row.text(6);
    campaign.play_run_id = row.optional_integer(7);
    campaign.run_id = row.optional_integer(8);
    campaign.created_at = row.integer(9);
    campaign.launched_at = row.optional_integer(10);
    campaign.ended_at = row.optional_integer(11);
    campaign.end_reason = row.text(12);
    return campaign;
}

json optional_time(const std::optional<Timestamp>& time) {
    return time ? json(format_timestamp(*time)) : json(nullptr);
}

Error not_found(const std::string& campaign_id) {
    return Error{ErrorKind::not_found, "unknown_campaign", "no campaign " + campaign_id + "; GET /v1/campaigns lists them",
                 "id"};
}

// What one use of the offer is worth to a member whose usual basket is `basket_cents`, in cents:
// points at what they pay when redeemed, discounts as given. The whole basket is taken to
// qualify (an upper bound for an offer on some categories).
struct OfferValue {
    explicit OfferValue(const RuleSet& rules)
        : cents_per_point(point_value_cents(rules)),
          points_per_cent(static_cast<double>(rules.earn.points_per_unit) / 100.0 / static_cast<double>(rules.unit_cents)) {}

    double per_use(const Offer& offer, double basket_cents) const {
        switch (offer.kind) {
            case OfferKind::points_multiplier:
                return basket_cents * points_per_cent * static_cast<double>(offer.multiplier_percent - 100) / 100.0 *
                       cents_per_point;
            case OfferKind::bonus_points:
            case OfferKind::tier_challenge:
                return static_cast<double>(offer.bonus_points) * cents_per_point;
            case OfferKind::amount_discount:
                return std::min(static_cast<double>(offer.discount_cents), basket_cents);
            case OfferKind::percent_discount:
                return basket_cents * static_cast<double>(offer.discount_percent) / 100.0;
        }
        return 0.0;
    }

    // The offer's budget in cents, if it has one for what it gives.
    std::optional<Cents> budget(const Offer& offer) const {
        const bool gives_points = offer.kind == OfferKind::points_multiplier || offer.kind == OfferKind::bonus_points ||
                                  offer.kind == OfferKind::tier_challenge;
        if (gives_points && offer.budget_points > 0)
            return static_cast<Cents>(std::llround(static_cast<double>(offer.budget_points) * cents_per_point));
        if (!gives_points && offer.budget_cents > 0) return offer.budget_cents;
        return std::nullopt;
    }

    double cents_per_point;
    double points_per_cent;
};

// Adds up the preview's costs member by member. Members without a usual basket (no purchase
// days in the run's window, or no row at all) are valued at the mean basket of those with one;
// members without a forecast (never purchased, or listed without a row) at every use.
class CostEstimate {
  public:
    CostEstimate(const Offer& offer, const RuleSet& rules, double horizon_days)
        : offer_(offer), value_(rules), window_share_(static_cast<double>(offer.valid_until - offer.valid_from) /
                                                      static_cast<double>(seconds_per_day) / horizon_days) {}

    void add(const MemberSegment* row) {
        const double uses = static_cast<double>(offer_.uses_per_member);
        const double expected =
            row && row->expected_purchases ? std::min(uses, *row->expected_purchases * window_share_) : uses;
        if (row && row->window_purchase_days > 0) {
            const double basket = static_cast<double>(row->monetary_cents) / static_cast<double>(row->window_purchase_days);
            baskets_ += basket;
            ++with_basket_;
            max_ += uses * value_.per_use(offer_, basket);
            expected_ += expected * value_.per_use(offer_, basket);
        } else {
            unknown_uses_ += uses;
            unknown_expected_ += expected;
        }
    }

    void finish(CampaignPreview& preview) const {
        const double mean = with_basket_ > 0 ? baskets_ / static_cast<double>(with_basket_) : 0.0;
        const double unknown_value = value_.per_use(offer_, mean);
        preview.budget_bound_cents = value_.budget(offer_);
        const auto bounded = [&](double cents) {
            const Cents rounded = std::llround(cents);
            return preview.budget_bound_cents ? std::min(rounded, *preview.budget_bound_cents) : rounded;
        };
        preview.max_cost_cents = bounded(max_ + unknown_uses_ * unknown_value);
        preview.expected_cost_cents = bounded(expected_ + unknown_expected_ * unknown_value);
    }

  private:
    const Offer& offer_;
    OfferValue value_;
    double window_share_;
    double baskets_ = 0.0, max_ = 0.0, expected_ = 0.0, unknown_uses_ = 0.0, unknown_expected_ = 0.0;
    std::int64_t with_basket_ = 0;
};

}  // namespace

std::string to_string(CampaignStatus status) {
    for (const auto& [value, name] : status_names)
        if (value == status) return name;
    return "draft";
}

bool CampaignTarget::filters_segments() const {
    return !segment.segments.empty() || !segment.tags.empty() || segment.value_tier || segment.lifecycle ||
           segment.min_clv || segment.max_clv || segment.min_churn_probability || segment.cluster;
}

Result<Campaign> parse_campaign(const json& body) {
    if (!body.is_object()) return invalid("campaign", "a campaign must be a JSON object");
    JsonReader reader(body, "");
    Campaign campaign;
    campaign.name = reader.text("name", 200);
    campaign.control_basis_points = reader.hundredths("control_percent", 0, max_control_basis_points, 1000);
    const json* target = reader.object("target");
    const json* offer = reader.object("offer");
    reader.only({"name", "target", "control_percent", "offer"});
    if (!reader.ok()) return reader.error();
    if (!target) return invalid("target", "target is required: {} takes every member of the latest segmentation run");
    if (!offer) return invalid("offer", "offer is required: what the treated members get (docs/CAMPAIGNS.md)");
    auto parsed_target = parse_target(*target);
    if (!parsed_target) return parsed_target.error();
    auto parsed_offer = parse_offer_template(*offer);
    if (!parsed_offer) return parsed_offer.error();
    campaign.target = std::move(*parsed_target);
    campaign.offer = std::move(*parsed_offer);
    campaign.offer.offer_id.clear();
    return campaign;
}

json target_json(const CampaignTarget& target) {
    const MemberSegmentFilter& filter = target.segment;
    json out = json::object();
    if (!filter.segments.empty()) out["segments"] = filter.segments;
    if (!filter.tags.empty()) out["tags"] = filter.tags;
    if (filter.value_tier) out["value_tier"] = *filter.value_tier;
    if (filter.lifecycle) out["lifecycle"] = *filter.lifecycle;
    if (filter.min_clv) out["min_clv"] = *filter.min_clv;
    if (filter.max_clv) out["max_clv"] = *filter.max_clv;
    if (filter.min_churn_probability) out["min_churn_probability"] = *filter.min_churn_probability;
    if (filter.cluster) out["cluster"] = *filter.cluster;
    if (target.tier) out["tier"] = *target.tier;
    if (target.satisfaction) out["satisfaction"] = *target.satisfaction;
    if (!target.members.empty()) out["members"] = target.members;
    return out;
}

json campaign_json(const Campaign& campaign) {
    json offer = campaign.offer;
    // As published: a draft's offer is not published yet; otherwise it has the campaign's status.
    if (campaign.status == CampaignStatus::draft) offer.erase("status");
    else offer["status"] = to_string(campaign.status);
    return {{"campaign_id", campaign.campaign_id},
            {"name", campaign.name},
            {"status", to_string(campaign.status)},
            {"target", target_json(campaign.target)},
            {"control_percent", static_cast<double>(campaign.control_basis_points) / 100.0},
            {"offer", offer},
            {"play", campaign.play.empty() ? json(nullptr) : json(campaign.play)},
            {"play_run_id", campaign.play_run_id ? json(*campaign.play_run_id) : json(nullptr)},
            {"run_id", campaign.run_id ? json(*campaign.run_id) : json(nullptr)},
            {"created_at", format_timestamp(campaign.created_at)},
            {"launched_at", optional_time(campaign.launched_at)},
            {"ended_at", optional_time(campaign.ended_at)},
            {"end_reason", campaign.end_reason.empty() ? json(nullptr) : json(campaign.end_reason)}};
}

json preview_json(const Campaign& campaign, const CampaignPreview& preview) {
    return {{"campaign_id", campaign.campaign_id},
            {"status", to_string(campaign.status)},
            {"run_id", preview.run_id ? json(*preview.run_id) : json(nullptr)},
            {"targeted", preview.targeted},
            {"treated", preview.treated},
            {"control", preview.control},
            {"without_consent", preview.without_consent},
            {"max_cost_cents", preview.max_cost_cents},
            {"expected_cost_cents", preview.expected_cost_cents},
            {"budget_cents", preview.budget_bound_cents ? json(*preview.budget_bound_cents) : json(nullptr)}};
}

double point_value_cents(const RuleSet& rules) {
    return static_cast<double>(rules.unit_cents) / static_cast<double>(rules.redemption.points_per_unit);
}

std::uint32_t control_group_hash(const std::string& campaign_id, const std::string& member_id) {
    const std::string input = campaign_id + ":" + member_id;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 || length < 8)
        throw std::runtime_error("campaigns: SHA-256 failed");
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value = value << 8 | digest[static_cast<std::size_t>(i)];
    return static_cast<std::uint32_t>(value % 10'000);
}

bool in_control_group(const Campaign& campaign, const std::string& member_id) {
    return control_group_hash(campaign.campaign_id, member_id) < campaign.control_basis_points;
}

Campaigns::Campaigns(Program& program, HqStore& store, const Clock& clock)
    : program_(program), store_(store), clock_(clock) {
    program_.database().migrate_component("hq_campaigns", {{1, campaigns_schema_v1}});
}

Result<Campaign> Campaigns::create(Campaign campaign) {
    Database& database = program_.database();
    for (const std::string& member_id : campaign.target.members)
        if (!database.query_integer("SELECT 1 FROM members WHERE member_id = ?", member_id))
            return invalid("target.members", "target.members names " + member_id + ", whom head office does not know");
    Transaction transaction(database);
    mint_ids(campaign, database.query_integer("SELECT COALESCE(MAX(number), 0) + 1 FROM campaigns").value_or(1));
    campaign.status = CampaignStatus::draft;
    campaign.created_at = clock_.now();
    campaign.launched_at = campaign.ended_at = std::nullopt;
    campaign.run_id = std::nullopt;
    campaign.end_reason.clear();
    database
        .prepare("INSERT INTO campaigns(number, campaign_id, name, status, target, control_basis_points, offer, play, "
                 "play_run_id, created_at) VALUES (?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?)")
        .bind(static_cast<std::int64_t>(std::stoll(campaign.campaign_id.substr(1))), campaign.campaign_id, campaign.name,
              target_json(campaign.target).dump(), campaign.control_basis_points, json(campaign.offer).dump(),
              campaign.play, campaign.play_run_id, campaign.created_at)
        .run();
    transaction.commit();
    return campaign;
}

std::vector<Campaign> Campaigns::list() {
    Statement& rows = program_.database().prepare(std::string("SELECT ") + campaign_columns +
                                                  " FROM campaigns ORDER BY number");
    rows.bind();
    std::vector<Campaign> campaigns;
    while (rows.step()) campaigns.push_back(read_campaign(rows));
    return campaigns;
}

std::optional<Campaign> Campaigns::find(const std::string& campaign_id) {
    Statement& row = program_.database().prepare(std::string("SELECT ") + campaign_columns +
                                                 " FROM campaigns WHERE campaign_id = ?");
    row.bind(campaign_id);
    if (!row.step()) return std::nullopt;
    Campaign campaign = read_campaign(row);
    row.reset();
    return campaign;
}

Result<Campaign> Campaigns::get(const std::string& campaign_id) {
    auto campaign = find(campaign_id);
    if (!campaign) return not_found(campaign_id);
    return std::move(*campaign);
}

std::optional<Campaign> Campaigns::find_play(const std::string& play, std::int64_t run_id) {
    const auto campaign_id = program_.database().query_text(
        "SELECT campaign_id FROM campaigns WHERE play = ? AND play_run_id = ?", play, run_id);
    return campaign_id ? find(*campaign_id) : std::nullopt;
}

Result<std::optional<std::int64_t>> Campaigns::for_each_target(
    const CampaignTarget& target, const std::function<void(const std::string&, const MemberSegment*)>& visit,
    std::int64_t& without_consent) {
    Database& database = program_.database();
    // Personalised offers need the member's consent (member.hpp): a member without it is left
    // out of both groups, so that the groups hold only members the offer could reach.
    // The member's satisfaction is their latest score's class (engagement.hpp), looked up only
    // when the target asks for it (CASE does not evaluate the subquery otherwise).
    const auto in_tier = [&](const std::string& member_id) {
        Statement& row = database.prepare(
            "SELECT tier, consent_offers, CASE WHEN ?2 THEN (SELECT score FROM satisfaction_scores s "
            "WHERE s.member_id = m.member_id ORDER BY recorded_at DESC LIMIT 1) END FROM members m "
            "WHERE member_id = ?1");
        row.bind(member_id, target.satisfaction.has_value() ? 1 : 0);
        const bool found = row.step();
        const std::optional<std::int64_t> score = found ? row.optional_integer(2) : std::nullopt;
        const bool satisfaction_matches =
            !target.satisfaction ||
            (score && to_string(classify_satisfaction(static_cast<int>(*score))) == *target.satisfaction);
        const bool matches = found && (!target.tier || row.text(0) == *target.tier) && satisfaction_matches;
        const bool consented = found && row.integer(1) == 1;
        row.reset();
        without_consent += matches && !consented;
        return matches && consented;
    };
    const auto runs = store_.segment_runs(1);
    const std::optional<std::int64_t> run_id = runs.empty() ? std::nullopt : std::optional(runs.front().run_id);
    if (!target.filters_segments() && !target.members.empty()) {
        for (const std::string& member_id : target.members) {
            if (!in_tier(member_id)) continue;
            const auto row = store_.latest_member_segment(member_id);
            visit(member_id, row ? &*row : nullptr);
        }
        return run_id;
    }
    // The latest run's matching members, merged with the uploaded list when there is one.
    MemberSegmentFilter filter = target.segment;
    filter.limit = targets_per_page;
    auto listed = target.members.begin();
    for (;;) {
        const std::vector<MemberSegment> page = store_.members_in_latest_run(filter);
        for (const MemberSegment& row : page) {
            if (row.run_id != run_id)  // a run finished meanwhile: the members would mix two runs
                return Error{ErrorKind::conflict, "segmentation_changed",
                             "a new segmentation run finished while the campaign's members were read; try again",
                             "target"};
            if (!target.members.empty()) {
                listed = std::lower_bound(listed, target.members.end(), row.member_id);
                if (listed == target.members.end() || *listed != row.member_id) continue;
            }
            if (in_tier(row.member_id)) visit(row.member_id, &row);
        }
        if (page.size() < filter.limit) return run_id;
        filter.after_member_id = page.back().member_id;
    }
}

Result<CampaignPreview> Campaigns::preview(const std::string& campaign_id) {
    auto campaign = get(campaign_id);
    if (!campaign) return campaign.error();
    CampaignPreview preview;
    std::vector<SegmentRun> runs = store_.segment_runs(1);
    const auto run = runs.empty() ? std::nullopt : store_.segment_run(runs.front().run_id);
    const double horizon_days = run ? run->parameters.value("horizon_days", 365.0) : 365.0;
    CostEstimate cost(campaign->offer, program_.rules(), horizon_days);
    const auto count = [&](const std::string&, bool treated, const MemberSegment* row) {
        ++preview.targeted;
        ++(treated ? preview.treated : preview.control);
        if (treated) cost.add(row);
    };
    if (campaign->status == CampaignStatus::draft) {
        const auto run_id = for_each_target(campaign->target, [&](const std::string& member_id, const MemberSegment* row) {
            count(member_id, !in_control_group(*campaign, member_id), row);
        }, preview.without_consent);
        if (!run_id) return run_id.error();
        preview.run_id = *run_id;
    } else {  // launched: the members fixed then
        preview.run_id = campaign->run_id;
        for_each_member(campaign_id, [&](const std::string& member_id, bool treated) {
            const auto row = treated ? store_.latest_member_segment(member_id) : std::nullopt;
            count(member_id, treated, row ? &*row : nullptr);
        });
    }
    cost.finish(preview);
    return preview;
}

void Campaigns::for_each_member(const std::string& campaign_id,
                                const std::function<void(const std::string& member_id, bool treated)>& visit) {
    // In pages, so that the visitor may use the database (even write) between them.
    std::string after;
    for (;;) {
        std::vector<std::pair<std::string, bool>> page;
        Statement& rows = program_.database().prepare(
            "SELECT member_id, treated FROM campaign_members WHERE campaign_id = ? AND member_id > ? "
            "ORDER BY member_id LIMIT ?");
        rows.bind(campaign_id, after, static_cast<std::int64_t>(members_per_commit));
        while (rows.step()) page.emplace_back(rows.text(0), rows.integer(1) != 0);
        for (const auto& [member_id, treated] : page) visit(member_id, treated);
        if (page.size() < members_per_commit) return;
        after = page.back().first;
    }
}

Result<Done> Campaigns::materialise_members(Campaign& campaign) {
    Database& database = program_.database();
    if (database.query_integer("SELECT members_fixed_at FROM campaigns WHERE campaign_id = ?", campaign.campaign_id))
        return Done{};
    {
        Transaction transaction(database);  // rows a crashed launch left
        database.prepare("DELETE FROM campaign_members WHERE campaign_id = ?").bind(campaign.campaign_id).run();
        transaction.commit();
    }
    std::vector<std::pair<std::string, bool>> batch;
    const auto flush = [&] {
        Transaction transaction(database);
        for (const auto& [member_id, treated] : batch)
            database.prepare("INSERT INTO campaign_members(campaign_id, member_id, treated) VALUES (?, ?, ?)")
                .bind(campaign.campaign_id, member_id, std::int64_t{treated})
                .run();
        transaction.commit();
        batch.clear();
    };
    std::int64_t without_consent = 0;
    const auto run_id = for_each_target(campaign.target, [&](const std::string& member_id, const MemberSegment*) {
        batch.emplace_back(member_id, !in_control_group(campaign, member_id));
        if (batch.size() == members_per_commit) flush();
    }, without_consent);
    if (!run_id) return run_id.error();  // the rows written are removed by the next launch
    flush();
    campaign.run_id = *run_id;
    Transaction transaction(database);
    database.prepare("UPDATE campaigns SET members_fixed_at = ?, run_id = ? WHERE campaign_id = ?")
        .bind(clock_.now(), campaign.run_id, campaign.campaign_id)
        .run();
    transaction.commit();
    return Done{};
}

Result<Done> Campaigns::publish(const Campaign& campaign, OfferStatus status) {
    Offer offer = campaign.offer;
    offer.status = status;
    return store_.publish_offer(offer);
}

Result<Campaign> Campaigns::move_to(Campaign campaign, CampaignStatus status, const std::string& end_reason) {
    if (campaign.status != CampaignStatus::draft) {  // a draft's offer was never published
        const OfferStatus offer_status = status == CampaignStatus::active   ? OfferStatus::active
                                         : status == CampaignStatus::paused ? OfferStatus::paused
                                                                            : OfferStatus::ended;
        if (auto published = publish(campaign, offer_status); !published) return published.error();
    }
    campaign.status = status;
    if (status == CampaignStatus::ended) {
        campaign.ended_at = clock_.now();
        campaign.end_reason = end_reason;
    }
    save_status(campaign);
    return campaign;
}

void Campaigns::save_status(const Campaign& campaign) {
    Database& database = program_.database();
    Transaction transaction(database);
    database
        .prepare("UPDATE campaigns SET status = ?, launched_at = ?, ended_at = ?, end_reason = ? WHERE campaign_id = ?")
        .bind(to_string(campaign.status), campaign.launched_at, campaign.ended_at, campaign.end_reason,
              campaign.campaign_id)
        .run();
    transaction.commit();
}

Result<Campaign> Campaigns::launch(const std::string& campaign_id) {
    auto found = get(campaign_id);
    if (!found) return found.error();
    Campaign& campaign = *found;
    switch (campaign.status) {
        case CampaignStatus::active:
            return campaign;  // launched already: nothing to do
        case CampaignStatus::ended:
            return Error{ErrorKind::conflict, "campaign_ended",
                         "campaign " + campaign_id + " has ended; create a new campaign to run it again", "id"};
        case CampaignStatus::paused:
            return move_to(campaign, CampaignStatus::active, "");
        case CampaignStatus::draft:
            break;
    }
    if (campaign.offer.valid_until <= clock_.now())
        return Error{ErrorKind::refused, "offer_expired",
                     "the offer's window ended at " + format_timestamp(campaign.offer.valid_until) +
                         "; create the campaign again with a later valid_until",
                     "offer.valid_until"};
    if (auto fixed = materialise_members(campaign); !fixed) return fixed.error();
    if (!program_.database().query_integer("SELECT 1 FROM campaign_members WHERE campaign_id = ? LIMIT 1", campaign_id)) {
        Transaction transaction(program_.database());  // nobody to fix: a later launch looks again
        program_.database()
            .prepare("UPDATE campaigns SET members_fixed_at = NULL, run_id = NULL WHERE campaign_id = ?")
            .bind(campaign_id)
            .run();
        transaction.commit();
        return Error{ErrorKind::refused, "no_members",
                     "no member matches campaign " + campaign_id +
                         "'s target (is there a segmentation run? loyalty-hq segment --as-of DATE makes one)",
                     "target"};
    }
    if (auto published = publish(campaign, OfferStatus::active); !published) return published.error();
    // Still a draft until every treated member has the offer: a launch that stops part-way is
    // launched again whole (publishing and assigning again change nothing).
    std::vector<std::string> chunk;
    std::optional<Error> failed;
    const auto assign = [&] {
        if (chunk.empty() || failed) return;
        if (const auto assigned = store_.assign_offer(campaign.offer.offer_id, chunk, true); !assigned)
            failed = assigned.error();
        chunk.clear();
    };
    for_each_member(campaign_id, [&](const std::string& member_id, bool treated) {
        if (!treated) return;  // the control group never gets the offer
        chunk.push_back(member_id);
        if (chunk.size() == members_per_assignment) assign();
    });
    assign();
    if (failed) return *failed;
    campaign.status = CampaignStatus::active;
    campaign.launched_at = clock_.now();
    save_status(campaign);
    return campaign;
}

Result<Campaign> Campaigns::pause(const std::string& campaign_id) {
    auto found = get(campaign_id);
    if (!found) return found.error();
    Campaign& campaign = *found;
    if (campaign.status == CampaignStatus::paused) return campaign;
    if (campaign.status != CampaignStatus::active)
        return Error{ErrorKind::refused, "not_active",
                     "campaign " + campaign_id + " is " + to_string(campaign.status) + "; only an active campaign pauses",
                     "id"};
    return move_to(campaign, CampaignStatus::paused, "");
}

Result<Campaign> Campaigns::end(const std::string& campaign_id) {
    auto found = get(campaign_id);
    if (!found) return found.error();
    Campaign& campaign = *found;
    if (campaign.status == CampaignStatus::ended) return campaign;
    return move_to(campaign, CampaignStatus::ended, "ended");
}

Result<bool> Campaigns::end_if_budget_spent(const std::string& campaign_id) {
    auto found = get(campaign_id);
    if (!found) return found.error();
    Campaign& campaign = *found;
    if (campaign.status != CampaignStatus::active && campaign.status != CampaignStatus::paused) return false;
    Statement& used = program_.database().prepare(
        "SELECT COALESCE(SUM(points), 0), COALESCE(SUM(discount_cents), 0) FROM offer_uses "
        "WHERE offer_id = ? AND voided = 0");
    used.bind(campaign.offer.offer_id);
    used.step();
    const Points points = used.integer(0);
    const Cents cents = used.integer(1);
    used.reset();
    const Offer& offer = campaign.offer;
    const bool spent = (offer.budget_points > 0 && points >= offer.budget_points) ||
                       (offer.budget_cents > 0 && cents >= offer.budget_cents);
    if (!spent) return false;
    if (auto ended = move_to(campaign, CampaignStatus::ended, "budget_spent"); !ended) return ended.error();
    return true;
}

}  // namespace loyalty::hq
