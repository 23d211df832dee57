#include "hq_campaign_api.hpp"

#include <fstream>
#include <sstream>

#include "hq_campaign_report.hpp"
#include "till_api.hpp"

namespace loyalty::hq {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// One campaign step and its answer, the same for the API and the command line.
using Step = std::function<Result<json>(Campaigns&, const std::string& campaign_id)>;

Result<json> as_json(const Result<Campaign>& campaign) {
    if (!campaign) return campaign.error();
    return campaign_json(*campaign);
}

const std::vector<std::pair<std::string, Step>>& steps() {
    static const std::vector<std::pair<std::string, Step>> named = {
        {"preview",
         [](Campaigns& campaigns, const std::string& id) -> Result<json> {
             const auto campaign = campaigns.get(id);
             if (!campaign) return campaign.error();
             const auto preview = campaigns.preview(id);
             if (!preview) return preview.error();
             return preview_json(*campaign, *preview);
         }},
        {"launch", [](Campaigns& campaigns, const std::string& id) { return as_json(campaigns.launch(id)); }},
        {"pause", [](Campaigns& campaigns, const std::string& id) { return as_json(campaigns.pause(id)); }},
        {"end", [](Campaigns& campaigns, const std::string& id) { return as_json(campaigns.end(id)); }},
        {"report",
         [](Campaigns& campaigns, const std::string& id) -> Result<json> {
             const auto report = campaign_report(campaigns, id);
             if (!report) return report.error();
             return report_json(*report);
         }},
        {"show", [](Campaigns& campaigns, const std::string& id) { return as_json(campaigns.get(id)); }},
    };
    return named;
}

const Step& step(const std::string& name) {
    for (const auto& [step_name, work] : steps())
        if (step_name == name) return work;
    throw std::logic_error("no campaign step " + name);
}

json campaign_list(Campaigns& campaigns) {
    json list = json::array();
    for (const Campaign& campaign : campaigns.list()) list.push_back(campaign_json(campaign));
    return list;
}

Response answer(const Result<json>& result, int status = 200) {
    if (!result) return pos::error_response(result.error());
    return Response::json(status, *result);
}

Result<json> create(Campaigns& campaigns, const json& body) {
    auto campaign = parse_campaign(body);
    if (!campaign) return campaign.error();
    return as_json(campaigns.create(std::move(*campaign)));
}

Result<json> playbook_drafts(Campaigns& campaigns, const Playbook& playbook) {
    const auto outcome = run_playbook(campaigns, playbook);
    if (!outcome) return outcome.error();
    return playbook_outcome_json(*outcome);
}

}  // namespace

void add_campaign_routes(http::Router& router, DatabaseThread& database, Campaigns& campaigns,
                         const Playbook& playbook) {
    router.add("GET", "/v1/campaigns", [&database, &campaigns](const Request&) {
        return database.call([&campaigns] { return Response::json(200, {{"campaigns", campaign_list(campaigns)}}); });
    });
    router.add("POST", "/v1/campaigns", [&database, &campaigns](const Request& request) {
        const json body = request.json_body();
        return database.call([&campaigns, body] { return answer(create(campaigns, body), 201); });
    });
    router.add("POST", "/v1/campaigns/playbook", [&database, &campaigns, &playbook](const Request&) {
        return database.call([&campaigns, &playbook] { return answer(playbook_drafts(campaigns, playbook), 201); });
    });
    const auto route = [&router, &database, &campaigns](const char* method, const std::string& pattern,
                                                        const std::string& name) {
        router.add(method, pattern, [&database, &campaigns, name](const Request& request) {
            const std::string id = request.path_params.at("id");
            return database.call([&campaigns, id, name] { return answer(step(name)(campaigns, id)); });
        });
    };
    route("GET", "/v1/campaigns/{id}", "show");
    for (const char* name : {"preview", "launch", "pause", "end"})
        route("POST", std::string("/v1/campaigns/{id}/") + name, name);
    route("GET", "/v1/campaigns/{id}/report", "report");
}

int run_campaign_command(const std::vector<std::string>& words, Campaigns& campaigns, const Playbook& playbook,
                         std::ostream& out, std::ostream& err) {
    const auto print = [&](const Result<json>& result) {
        if (!result) {
            err << "loyalty-hq: " << (result.error().field.empty() ? "" : result.error().field + ": ")
                << result.error().message << "\n";
            return 1;
        }
        out << result->dump(2) << "\n";
        return 0;
    };
    const std::string command = words.empty() ? "" : words[0];
    if (command == "list" && words.size() == 1) {
        for (const json& campaign : campaign_list(campaigns)) out << campaign.dump() << "\n";
        return 0;
    }
    if (command == "playbook" && words.size() == 1) return print(playbook_drafts(campaigns, playbook));
    if (command == "create" && words.size() == 2) {
        std::ifstream file(words[1]);
        std::stringstream text;
        text << file.rdbuf();
        const json body = json::parse(text.str(), nullptr, false);
        if (!file || body.is_discarded()) {
            err << "loyalty-hq: " << words[1] << " is not a readable JSON file\n";
            return 1;
        }
        return print(create(campaigns, body));
    }
    if (words.size() == 2 && command != "show")
        for (const auto& [name, work] : steps())
            if (name == command) return print(work(campaigns, words[1]));
    err << "loyalty-hq: usage: campaign create FILE.json | list | preview ID | launch ID | pause ID | end ID | "
           "report ID | playbook [--config FILE | --db FILE]\n";
    return 2;
}

}  // namespace loyalty::hq
