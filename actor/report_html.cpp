#include "actor/report_html.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "common/atomic_file.h"
#include "common/jsonl.h"

namespace grpo::actor {
namespace {

using nlohmann::json;

// A run's own log; a line a kill cut short is left out.
std::vector<json> read_log(const std::string& path) {
  std::vector<json> rows;
  if (!std::filesystem::exists(path)) return rows;
  for (auto& line : read_jsonl(path, BadJsonlLine::kSkip))
    if (line.value.is_object()) rows.push_back(std::move(line.value));
  return rows;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string num(double x) {
  std::ostringstream s;
  s.precision(4);
  s << x;
  return s.str();
}

// A line chart of `key` over `step` as inline SVG; "no data" when no row has the key.
std::string chart(const std::vector<json>& rows, const std::string& key, const std::string& title) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& r : rows)
    if (r.contains(key) && r[key].is_number() && std::isfinite(r[key].get<double>()))
      pts.emplace_back(r.value("step", 0.0), r[key].get<double>());
  std::ostringstream s;
  s << "<figure><figcaption>" << escape(title) << " <code>" << escape(key) << "</code></figcaption>";
  if (pts.empty()) return s.str() + "<p class=none>no data</p></figure>\n";
  const double W = 420, H = 180, L = 50, B = 24, T = 8, R = 10;
  double x0 = pts.front().first, x1 = pts.front().first, y0 = pts.front().second, y1 = y0;
  for (auto [x, y] : pts) {
    x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + (y0 == 0 ? 1 : std::fabs(y0) * 0.1);
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return T + (1 - (y - y0) / (y1 - y0)) * (H - T - B); };
  s << "<svg viewBox='0 0 " << W << " " << H << "' width='" << W << "' height='" << H << "'>";
  s << "<rect x='" << L << "' y='" << T << "' width='" << W - L - R << "' height='" << H - T - B
    << "' fill='none' stroke='#bbb'/>";
  s << "<text x='" << L - 4 << "' y='" << T + 10 << "' text-anchor='end'>" << num(y1) << "</text>";
  s << "<text x='" << L - 4 << "' y='" << H - B << "' text-anchor='end'>" << num(y0) << "</text>";
  s << "<text x='" << L << "' y='" << H - 6 << "'>" << num(x0) << "</text>";
  s << "<text x='" << W - R << "' y='" << H - 6 << "' text-anchor='end'>step " << num(x1) << "</text>";
  s << "<polyline fill='none' stroke='#1f6feb' stroke-width='1.5' points='";
  for (auto [x, y] : pts) s << num(px(x)) << "," << num(py(y)) << " ";
  s << "'/></svg></figure>\n";
  return s.str();
}

std::string eval_table(const json& base, const json& final_) {
  if (base.is_null() && final_.is_null()) return "<p class=none>no evaluation in this run</p>\n";
  std::ostringstream s;
  const json& any = base.is_null() ? final_ : base;
  const std::string k = std::to_string(any.value("k", 0));
  s << "<table><tr><th>level</th><th>prompts</th><th>pass@1 before</th><th>pass@1 after</th><th>mean@" << k
    << " before</th><th>mean@" << k << " after</th><th>pass@" << k << " before</th><th>pass@" << k
    << " after</th></tr>\n";
  auto find = [](const json& e, const std::string& level) -> json {
    if (e.is_null()) return json();
    for (const auto& l : e["levels"])
      if (l["level"] == level) return l;
    return json();
  };
  auto pct = [](const json& l, const std::string& key) {
    return l.is_null() || !l.contains(key) ? std::string("–") : num(100 * l[key].get<double>()) + "%";
  };
  for (const auto& l : any["levels"]) {
    const std::string level = l["level"];
    const json b = find(base, level), f = find(final_, level);
    s << "<tr><td>" << escape(level) << "</td><td>" << l["prompts"] << "</td><td>" << pct(b, "pass@1") << "</td><td>"
      << pct(f, "pass@1") << "</td><td>" << pct(b, "mean@" + k) << "</td><td>" << pct(f, "mean@" + k) << "</td><td>"
      << pct(b, "pass@" + k) << "</td><td>" << pct(f, "pass@" + k) << "</td></tr>\n";
  }
  return s.str() + "</table>\n";
}

json read_json(const std::string& path) {
  if (!std::filesystem::exists(path)) return json();
  json j = json::parse(read_file(path), nullptr, false);
  return j.is_discarded() ? json() : j;
}

}  // namespace

std::string write_report_html(const std::string& run_dir) {
  const auto metrics = read_log(run_dir + "/metrics.jsonl");
  const auto sft = read_log(run_dir + "/sft/metrics.jsonl");
  const json base = read_json(run_dir + "/eval_base.json"), final_ = read_json(run_dir + "/eval_final.json");
  const json config = read_json(run_dir + "/config.json");
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset='utf-8'><title>grpo run: "
    << escape(config.is_object() ? config.value("name", run_dir) : run_dir) << "</title><style>"
    << "body{font-family:sans-serif;margin:2em;max-width:960px}figure{display:inline-block;margin:0 1em 1em 0}"
    << "figcaption{font-size:13px;margin-bottom:2px}svg text{font-size:10px;fill:#555}"
    << "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    << ".none{color:#888}pre{background:#f6f8fa;padding:8px;white-space:pre-wrap;font-size:12px}"
    << "</style></head><body>\n";
  h << "<h1>grpo run: " << escape(config.is_object() ? config.value("name", "") : "") << "</h1>\n";
  h << "<p>Run folder <code>" << escape(run_dir) << "</code>; " << metrics.size() << " RL steps";
  if (!sft.empty()) h << ", " << sft.size() << " SFT steps";
  h << ".</p>\n<h2>Held-out evaluation</h2>\n" << eval_table(base, final_);
  h << "<h2>RL training</h2>\n";
  h << chart(metrics, "reward/mean", "Reward (mean over samples)");
  h << chart(metrics, "reward/correct", "Accuracy (share of samples the script marks correct)");
  h << chart(metrics, "response_length/mean", "Response length (tokens)");
  h << chart(metrics, "kl", "KL to the reference");
  h << chart(metrics, "entropy", "Entropy (nats per token)");
  h << chart(metrics, "grad_norm", "Gradient norm");
  if (!sft.empty()) h << "<h2>SFT (base policy)</h2>\n" << chart(sft, "loss", "SFT loss (NLL per completion token)");
  for (const auto& [name, e] : {std::pair{"before RL", base}, std::pair{"after RL", final_}}) {
    if (e.is_null() || !e.contains("examples")) continue;
    h << "<h2>Greedy samples " << name << "</h2>\n";
    for (const auto& ex : e["examples"])
      h << "<pre>" << escape(ex.value("prompt", "")) << "\n---\n"
        << escape(ex.value("completion", "")) << "\n[" << (ex.value("solved", false) ? "solved" : "not solved")
        << "]</pre>\n";
  }
  if (config.is_object()) h << "<h2>Resolved recipe</h2>\n<pre>" << escape(config.dump(2)) << "</pre>\n";
  h << "</body></html>\n";
  const std::string path = run_dir + "/report.html";
  write_file_atomic(path, h.str());
  return path;
}

}  // namespace grpo::actor
