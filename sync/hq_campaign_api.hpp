// Campaigns over HTTP (head office's admin API, bearer token like every admin route) and on the
// command line (`loyalty-hq campaign ...`). Both answer with the same JSON.
//
//   GET  /v1/campaigns                  every campaign, oldest first
//   POST /v1/campaigns                  create a draft (hq_campaigns.hpp: parse_campaign); 201
//   POST /v1/campaigns/playbook         draft the enabled plays from the latest run (hq_playbook.hpp)
//   GET  /v1/campaigns/{id}             one campaign
//   POST /v1/campaigns/{id}/preview     targeted, treated, control, expected cost; writes nothing
//   POST /v1/campaigns/{id}/launch      fix the members, publish and assign the offer (idempotent)
//   POST /v1/campaigns/{id}/pause       the offer paused at every till; launch resumes
//   POST /v1/campaigns/{id}/end         the offer ended at every till
//   GET  /v1/campaigns/{id}/report      hq_campaign_report.hpp
//
// Refusals are the admin API's error body naming the field: 400 for bad input, 404 for an
// unknown campaign, 409 launching an ended one, 422 for a step the campaign's state refuses.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "hq_campaigns.hpp"
#include "hq_playbook.hpp"
#include "hq_server.hpp"
#include "loyalty/router.hpp"

namespace loyalty::hq {

// `campaigns` and `playbook` must outlive the router; every call runs on `database`.
void add_campaign_routes(http::Router& router, DatabaseThread& database, Campaigns& campaigns,
                         const Playbook& playbook);

// `loyalty-hq campaign create FILE.json | list | preview ID | launch ID | pause ID | end ID |
// report ID | playbook` (the words after --config/--db are taken out). Prints JSON; returns 0,
// 1 for a refusal (the message on `err`) or 2 for bad usage.
int run_campaign_command(const std::vector<std::string>& words, Campaigns& campaigns, const Playbook& playbook,
                         std::ostream& out, std::ostream& err);

}  // namespace loyalty::hq
