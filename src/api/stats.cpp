// GET /api/v1/stats?from&to&step (issue 13): delivery counters per hour or day, from
// store::Stats (hourly counters kept with the events; never a scan of the message log).
// API key: its own account; operator: /api/v1/stats = every account, /accounts/{id}/stats one.
//   from, to: ISO-8601 or Unix ms; default the last 24 hours (step hour) or 30 days (step day);
//             aligned down to the step (UTC); to exclusive.
//   step:     hour (default) or day; at most 1000 buckets.
// Answer: {"step","from","to","series":[{"t", accepted, delivered, deferred, bounced, expired,
// rejected, opened, clicked}], "totals":{...}, "bounceRate"} — every bucket present (zeros
// included) so charts need no gap filling; bounceRate = bounced / (delivered + bounced),
// null when both are 0.
#include "store/stats.hpp"

#include "api/request.hpp"
#include "api/resources.hpp"

namespace tern::api {

namespace {
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
constexpr const char* kEvents[] = {"accepted", "delivered", "deferred", "bounced",
                                   "expired",  "rejected",  "opened",   "clicked"};

int64_t floor_to(int64_t t, int64_t step) {
  int64_t q = t / step;
  if (t % step < 0) --q;
  return q * step;
}

nlohmann::json zeros() {
  nlohmann::json j = nlohmann::json::object();
  for (const char* e : kEvents) j[e] = 0;
  return j;
}
}  // namespace

net::HttpResponse handle_stats(const Call& c, int64_t account_id) {
  if (!c.rest.empty()) return no_route();
  if (c.req.method != "GET" && c.req.method != "HEAD") return method_not_allowed("GET");
  if (!c.svc.stats) return error_response(503, "unavailable", "statistics are not enabled");
  auto step_s = query_param(c.req, "step");
  if (!step_s) return bad_request(step_s.error().message);
  const std::string step_name = step_s->value_or("hour");
  if (step_name != "hour" && step_name != "day")
    return bad_request("step must be \"hour\" or \"day\"");
  const int64_t step = step_name == "day" ? kDay : kHour;
  int64_t to = floor_to(c.now_ms(), step) + step, from = to - (step == kDay ? 30 : 24) * step;
  for (const char* name : {"from", "to"}) {
    auto v = query_param(c.req, name);
    if (!v) return bad_request(v.error().message);
    if (!*v) continue;
    auto t = parse_time(**v);
    if (!t) return bad_request(std::string(name) + ": not an ISO-8601 time or Unix milliseconds");
    (std::string_view(name) == "from" ? from : to) = *t;
  }
  from = floor_to(from, step);
  if (to % step != 0) to = floor_to(to, step) + step;
  if (to <= from) return bad_request("\"to\" must be after \"from\"");
  if ((to - from) / step > 1000) return bad_request("at most 1000 buckets (narrow from/to)");
  auto rows = c.svc.stats->hourly(account_id, from, to);
  if (!rows) return from_error(rows.error());
  const size_t n = static_cast<size_t>((to - from) / step);
  std::vector<nlohmann::json> buckets(n, zeros());
  nlohmann::json totals = zeros();
  for (const auto& r : *rows) {
    const auto i = static_cast<size_t>((floor_to(r.hour_ms, step) - from) / step);
    if (i >= n || !totals.contains(r.event)) continue;  // "webhook" attempts are not shown
    buckets[i][r.event] = buckets[i][r.event].get<int64_t>() + r.n;
    totals[r.event] = totals[r.event].get<int64_t>() + r.n;
  }
  nlohmann::json series = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) {
    buckets[i]["t"] = iso_time(from + static_cast<int64_t>(i) * step);
    series.push_back(std::move(buckets[i]));
  }
  const int64_t delivered = totals["delivered"], bounced = totals["bounced"];
  nlohmann::json rate = nullptr;
  if (delivered + bounced > 0)
    rate = static_cast<double>(bounced) / static_cast<double>(delivered + bounced);
  return json_response(200, {{"step", step_name},
                             {"from", iso_time(from)},
                             {"to", iso_time(to)},
                             {"series", series},
                             {"totals", totals},
                             {"bounceRate", rate}});
}

}  // namespace tern::api
