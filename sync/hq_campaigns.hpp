// Head office's campaigns (issue 6): an offer for the members a segmentation run (or an uploaded
// list) selects, with a control group held out, published to the tills, and measured.
//
// A campaign is a draft until launched. Launch fixes its members once, each in the treated or
// the control group (control_group_hash below: random to the eye, the same on every run), then
// publishes the offer (HqStore::publish_offer) and assigns it to the treated members only
// (HqStore::assign_offer, 500 at a time). Launching again changes nothing; a paused campaign
// launched again is active again. Pause and end publish the offer with that status, which the
// tills apply. docs/CAMPAIGNS.md describes targeting, the cost estimate and the report.
//
// Campaigns keep their own tables (component "hq_campaigns"), beside the programme and the
// `hq` component. Not thread-safe: loyalty-hq calls it on its database thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hq_store.hpp"
#include "loyalty/offer.hpp"

namespace loyalty::hq {

enum class CampaignStatus { draft, active, paused, ended };
std::string to_string(CampaignStatus status);

// Who a campaign is for: the latest segmentation run's members matching every set field of
// `segment` and, if set, now in `tier`; or, with `members` (an uploaded list), those members
// (still subject to the other fields when any is set). Only members who agreed to personalised
// offers are ever targeted.
struct CampaignTarget {
    MemberSegmentFilter segment;  // its paging fields are not used
    std::optional<std::string> tier;
    // "satisfied", "neutral" or "unsatisfied": the class of the member's latest satisfaction
    // score (engagement.hpp); members who never gave one do not match.
    std::optional<std::string> satisfaction;
    std::vector<std::string> members;  // sorted, unique

    // Whether any field of the segmentation is asked for (the list alone needs no run).
    bool filters_segments() const;
};

struct Campaign {
    std::string campaign_id;  // "C1", "C2", ... minted by head office
    std::string name;
    CampaignStatus status = CampaignStatus::draft;
    CampaignTarget target;
    std::int64_t control_basis_points = 0;  // control_percent * 100: 1000 holds out 10%
    Offer offer;                            // offer_id "<campaign_id>-O1", campaign_id set
    std::string play;                       // the playbook play that made it, or empty
    std::optional<std::int64_t> play_run_id;  // the segmentation run the play read
    std::optional<std::int64_t> run_id;       // the run whose members were taken at launch
    Timestamp created_at = 0;
    std::optional<Timestamp> launched_at, ended_at;
    std::string end_reason;  // "ended" (by head office) or "budget_spent"
};

// A campaign as the API takes it: {"name", "target": {...}, "control_percent", "offer": {...}}
// (the offer without offer_id, campaign_id or status, which head office sets). Errors name the
// field: "target.min_churn_probability", "offer.discount_percent".
Result<Campaign> parse_campaign(const nlohmann::json& body);
nlohmann::json campaign_json(const Campaign& campaign);
nlohmann::json target_json(const CampaignTarget& target);

// What one point costs head office in cents: what it pays when redeemed.
double point_value_cents(const RuleSet& rules);

// SHA-256 of "<campaign_id>:<member_id>", its first 8 bytes read big-endian, mod 10000: the
// member is in the control group when this is below the campaign's control_basis_points.
std::uint32_t control_group_hash(const std::string& campaign_id, const std::string& member_id);
bool in_control_group(const Campaign& campaign, const std::string& member_id);

// What a launch would do, computed without writing anything.
struct CampaignPreview {
    std::optional<std::int64_t> run_id;  // the segmentation run targeting reads
    std::int64_t targeted = 0, treated = 0, control = 0;
    // Members the target matches who have not agreed to personalised offers: in neither group.
    std::int64_t without_consent = 0;
    // Every treated member using the offer uses_per_member times, each use worth the offer's
    // value on their usual basket; and the same with the uses the members' BG/NBD forecast
    // expects in the offer's window. Both bounded by the budget (docs/CAMPAIGNS.md).
    Cents max_cost_cents = 0;
    Cents expected_cost_cents = 0;
    std::optional<Cents> budget_bound_cents;  // the budget in cents, when the offer has one
};
nlohmann::json preview_json(const Campaign& campaign, const CampaignPreview& preview);

// The campaigns of one head-office database. `program` and `store` must outlive it.
class Campaigns {
  public:
    Campaigns(Program& program, HqStore& store, const Clock& clock);

    // Stores a new draft with the next id. Refuses an uploaded member id head office does not
    // know (field "target.members").
    Result<Campaign> create(Campaign campaign);
    std::vector<Campaign> list();
    std::optional<Campaign> find(const std::string& campaign_id);
    Result<Campaign> get(const std::string& campaign_id);  // not_found names "id"
    // The draft a playbook play made from `run_id`, if any (a play runs once per run).
    std::optional<Campaign> find_play(const std::string& play, std::int64_t run_id);

    Result<CampaignPreview> preview(const std::string& campaign_id);
    Result<Campaign> launch(const std::string& campaign_id);
    Result<Campaign> pause(const std::string& campaign_id);
    Result<Campaign> end(const std::string& campaign_id);
    // Ends an active or paused campaign whose offer's uses seen here have spent its budget;
    // returns whether it did.
    Result<bool> end_if_budget_spent(const std::string& campaign_id);

    // The campaign's members in member-id order with their group.
    void for_each_member(const std::string& campaign_id,
                         const std::function<void(const std::string& member_id, bool treated)>& visit);

    Program& program() { return program_; }
    HqStore& store() { return store_; }
    const Clock& clock() const { return clock_; }

  private:
    // Calls `visit` for each targeted member, in member-id order, with their row in the latest
    // run (null for a listed member without one). Returns the run read, if any.
    // Members matching the target but without consent to personalised offers are left out and
    // counted in `without_consent`.
    Result<std::optional<std::int64_t>> for_each_target(
        const CampaignTarget& target, const std::function<void(const std::string&, const MemberSegment*)>& visit,
        std::int64_t& without_consent);
    Result<Done> materialise_members(Campaign& campaign);
    Result<Done> publish(const Campaign& campaign, OfferStatus status);
    // Publishes the offer with the new status (a draft has none to publish yet), then saves it.
    Result<Campaign> move_to(Campaign campaign, CampaignStatus status, const std::string& end_reason);
    void save_status(const Campaign& campaign);

    Program& program_;
    HqStore& store_;
    const Clock& clock_;
};

}  // namespace loyalty::hq
