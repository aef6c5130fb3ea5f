// The Jinja parser: tokens -> a tree of statements and expressions, with jinja2's grammar and precedence
// (conditional < or < and < not < comparisons < + - < ~ < * / // % < ** < unary < filters, tests, calls).
// Statements: if/elif/else, for (tuple targets, an inline `if`, else, loop.*), set (names, tuples,
// namespace attributes, blocks), macro, call-free filter blocks, with, generation, break/continue.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/jinja/lexer.h"
#include "data/jinja/value.h"

namespace zt::data::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class BinaryOp : uint8_t { add, sub, mul, div, floordiv, mod, pow, concat };
enum class CompareOp : uint8_t { eq, ne, lt, le, gt, ge, in, not_in };

struct Expr {
  enum class Kind : uint8_t {
    literal,      // literal
    name,         // name
    list,         // children
    tuple,        // children
    dict,         // children: key, value, key, value, ...
    attribute,    // children[0].name
    subscript,    // children[0][children[1]]
    slice,        // children: start, stop, step (each may be null)
    call,         // children[0](children[1..], keywords)
    filter,       // children[0] | name(children[1..], keywords)
    test,         // children[0] is [not] name(children[1..])
    not_,         // not children[0]
    negate,       // -children[0]
    binary,       // children[0] op children[1]
    compare,      // children[0] ops[0] children[1] ops[1] children[2] ...
    and_,         // children[0] and children[1]
    or_,          // children[0] or children[1]
    conditional,  // children[1] if children[0] else children[2] (null: Undefined)
  };
  Kind kind;
  int line = 0;
  Value literal;
  std::string name;
  BinaryOp op = BinaryOp::add;
  std::vector<CompareOp> compare_ops;
  bool negated = false;  // `is not`
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
};

struct Node;
using Body = std::vector<Node>;

struct Node {
  enum class Kind : uint8_t {
    text,          // text
    output,        // {{ exprs[0] }}
    if_,           // exprs: one condition per branch; bodies: one per branch, then else when present
    for_,          // targets in exprs[0] [if exprs[1]]; bodies[0], bodies[1] = else
    set,           // targets (or name.attribute) = exprs[0]
    set_block,     // targets[0] = rendered bodies[0], through filter exprs[0] when present
    macro,         // name(targets with defaults exprs, null for none) bodies[0]
    filter_block,  // bodies[0] rendered, then through filter exprs[0]
    with,          // targets = exprs; bodies[0]
    generation,    // bodies[0], its output marked as the assistant's
    break_,
    continue_,
  };
  Kind kind = Kind::text;
  int line = 0;
  std::string text;                  // text; macro name; set's namespace when `attribute` is set
  std::string attribute;             // set ns.attribute = ...
  std::vector<std::string> targets;  // for/set/with names; macro parameters
  std::vector<ExprPtr> exprs;
  std::vector<Body> bodies;
  bool has_filter = false;           // for_: exprs[1] is an inline filter
};

struct Program {
  Body body;
  bool has_generation = false;
};

// Parses tokens; a LocatedError for a syntax error or an unsupported statement (extends, include, import,
// block, call), naming what was expected.
Program parse(const std::vector<Token>& tokens);

}  // namespace zt::data::jinja
