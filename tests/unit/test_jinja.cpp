// ztune's Jinja interpreter: Python's semantics where chat templates lean on them, errors that name the template
// and quote its line, and limits that stop runaway templates. Rendering of real templates against transformers is
// tests/python/check_jinja_templates.py.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/jinja/template.h"

namespace {

using zt::data::jinja::Dict;
using zt::data::jinja::RenderLimits;
using zt::data::jinja::Template;
using zt::data::jinja::Value;

std::string render(const std::string& source, const std::string& variables = "{}", const RenderLimits& limits = {}) {
  const Value context = Value::from_json(nlohmann::ordered_json::parse(variables));
  return Template(source, "test.jinja").render(context.dict(), limits).text;
}

std::string error_of(const std::string& source, const RenderLimits& limits = {}) {
  try {
    render(source, "{}", limits);
  } catch (const zt::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(Jinja, PythonSemantics) {
  EXPECT_EQ(render("{{ [1, 2, 3][::-1] }}"), "[3, 2, 1]");
  EXPECT_EQ(render("{{ 7 // -2 }} {{ -7 % 3 }} {{ 1 / 2 }} {{ 2 ** 10 }} {{ 1e16 }} {{ 0.1 + 0.2 }}"),
            "-4 2 0.5 1024 1e+16 0.30000000000000004");
  EXPECT_EQ(render("{{ {'a': [1, none, true, 'x\"y']} | tojson }}"), "{\"a\": [1, null, true, \"x\\\"y\"]}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': {'c': 2}} | tojson(indent=2) }}"), "{\n  \"b\": 1,\n  \"a\": {\n    \"c\": 2\n  }\n}");
  EXPECT_EQ(render("{{ 'a' ~ none }} {{ none }} {{ ('x',) }} {{ {'k': 'it\\'s'} }}"), "aNone None ('x',) {'k': \"it's\"}");
  EXPECT_EQ(render("{{ 'héllo wörld'[1:4] }} {{ 'héllo' | length }} {{ ' a b '.split() }} {{ 'a,b,,c'.split(',') }}"),
            "éll 5 ['a', 'b'] ['a', 'b', '', 'c']");
  EXPECT_EQ(render("{{ 'x' if false }}|{{ missing }}|{{ missing is defined }}|{{ (missing or 'd') }}"), "||False|d");
  EXPECT_EQ(render("{% for x in [1, 2, 3] if x != 2 %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}"
                   "{% endfor %}"),
            "1/2,2/2");
  // A for loop's assignments stay in the loop; namespaces carry state out.
  EXPECT_EQ(render("{% set x = 1 %}{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set x = i %}"
                   "{% set ns.n = ns.n + i %}{% endfor %}{{ x }} {{ ns.n }}"),
            "1 3");
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} "
                   "{{ greet('B', punct='?') }}"),
            "Hi A! Hi B?");
  // trim_blocks and lstrip_blocks, as transformers configures jinja2.
  EXPECT_EQ(render("  {% if true %}\nyes\n  {% endif %}\nend"), "yes\nend");
  EXPECT_EQ(render("{{- ' a ' -}}  \n {{ 'b' }}"), " a b");
  // map/select give generators: always true, no length, not JSON.
  EXPECT_EQ(render("{{ 'yes' if ([] | select('none')) }}"), "yes");
  EXPECT_NE(error_of("{{ [1] | map('string') | tojson }}").find("not JSON serializable"), std::string::npos);
  // jinja2's Markup escapes the plain string it is added to (functionary's templates rely on it).
  EXPECT_EQ(render("{{ 'a'|safe + '<b>' }}"), "a&lt;b&gt;");
}

TEST(Jinja, ErrorsNameTheTemplateAndQuoteTheLine) {
  const std::string syntax = error_of("line one\n{% for x in %}\n{% endfor %}");
  EXPECT_NE(syntax.find("test.jinja, line 2"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("2 | {% for x in %}"), std::string::npos) << syntax;
  const std::string unclosed = error_of("{% if true %}\nno end");
  EXPECT_NE(unclosed.find("never closed"), std::string::npos) << unclosed;
  const std::string raised = error_of("a\n{{ raise_exception('Only user and assistant roles are supported!') }}");
  EXPECT_NE(raised.find("line 2: the template refuses the conversation: Only user and assistant roles"), std::string::npos)
      << raised;
  const std::string runtime = error_of("{{ 1 + 'a' }}");
  EXPECT_NE(runtime.find("unsupported operand type(s) for +: 'int' and 'str'"), std::string::npos) << runtime;
  const std::string undefined = error_of("{{ missing.field }}");
  EXPECT_NE(undefined.find("'missing' is undefined"), std::string::npos) << undefined;
  EXPECT_NE(error_of("{% include 'x.jinja' %}").find("not one a chat template may use"), std::string::npos);
}

TEST(Jinja, RunawayTemplatesStop) {
  RenderLimits limits;
  limits.max_steps = 200000;
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", limits)
                .find("steps"),
            std::string::npos);
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}").find("nest deeper"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='xy') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}")
                .find("64 MiB"),
            std::string::npos);
  EXPECT_NE(error_of("{{ range(10000000) | length }}").find("range too big"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000000 }}").find("64 MiB"), std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}").find("nests deeper"), std::string::npos);
}

}  // namespace
