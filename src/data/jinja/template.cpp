#include "data/jinja/template.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "data/jinja/builtins.h"
#include "data/jinja/parser.h"

namespace zt::data::jinja {
namespace {

[[noreturn]] void undefined_error(const Value& value) {
  const std::string& hint = value.undefined_hint();
  fail(hint.empty() ? "a value is undefined" : (hint.front() == '\'' && hint.find(' ') == std::string::npos
                                                    ? hint + " is undefined"
                                                    : hint));
}

// Python's slice over n items: the indices it selects.
std::vector<size_t> slice_indices(int64_t n, const Value& start_value, const Value& stop_value, const Value& step_value) {
  const int64_t step = step_value.is_none() || step_value.is_undefined() ? 1 : step_value.as_int();
  if (step == 0) fail("slice step cannot be zero");
  auto clamp = [&](const Value& value, int64_t fallback) -> int64_t {
    if (value.is_none() || value.is_undefined()) return fallback;
    if (!value.is_integer()) fail("slice indices must be integers or None");
    int64_t index = value.as_int();
    if (index < 0) index += n;
    if (step > 0) return std::clamp<int64_t>(index, 0, n);
    return std::clamp<int64_t>(index, -1, n - 1);
  };
  const int64_t start = clamp(start_value, step > 0 ? 0 : n - 1);
  const int64_t stop = clamp(stop_value, step > 0 ? n : -1);
  std::vector<size_t> indices;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) indices.push_back(static_cast<size_t>(i));
  return indices;
}

Value arithmetic(BinaryOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  auto unsupported = [&](const char* symbol) -> Value {
    fail(std::string("unsupported operand type(s) for ") + symbol + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
  };
  const bool numbers = a.is_number() && b.is_number();
  const bool integers = a.is_integer() && b.is_integer();
  switch (op) {
    case BinaryOp::add:
      if (integers) return Value::integer(a.as_int() + b.as_int());
      if (numbers) return Value::number(a.as_double() + b.as_double());
      if (a.is_string() && b.is_string()) {
        if (a.str().size() + b.str().size() > kMaxValueBytes) fail("the template built a string of more than 64 MiB");
        // jinja2's Markup escapes the plain string it is added to (functionary's templates rely on it).
        if (a.is_markup() || b.is_markup()) {
          const Value left = a.is_markup() ? a : apply_filter("escape", a, {});
          const Value right = b.is_markup() ? b : apply_filter("escape", b, {});
          return Value::markup(left.str() + right.str());
        }
        return Value(a.str() + b.str());
      }
      if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        if (a.items().size() + b.items().size() > kMaxItems) fail("the template built a list of more than a million items");
        std::vector<Value> items = a.items();
        items.insert(items.end(), b.items().begin(), b.items().end());
        return Value::list(std::move(items), a.is_tuple());
      }
      return unsupported("+");
    case BinaryOp::sub:
      if (integers) return Value::integer(a.as_int() - b.as_int());
      if (numbers) return Value::number(a.as_double() - b.as_double());
      return unsupported("-");
    case BinaryOp::mul: {
      if (integers) return Value::integer(a.as_int() * b.as_int());
      if (numbers) return Value::number(a.as_double() * b.as_double());
      const Value& sequence = a.is_integer() ? b : a;
      const Value& count_value = a.is_integer() ? a : b;
      if (!count_value.is_integer() || !(sequence.is_string() || sequence.is_list())) return unsupported("*");
      const int64_t count = std::max<int64_t>(0, count_value.as_int());
      if (sequence.is_string()) {
        if (static_cast<double>(sequence.str().size()) * static_cast<double>(count) > static_cast<double>(kMaxValueBytes))
          fail("the template built a string of more than 64 MiB");
        std::string out;
        for (int64_t i = 0; i < count; ++i) out += sequence.str();
        return Value(out);
      }
      if (static_cast<double>(sequence.items().size()) * static_cast<double>(count) > static_cast<double>(kMaxItems))
        fail("the template built a list of more than a million items");
      std::vector<Value> items;
      for (int64_t i = 0; i < count; ++i) items.insert(items.end(), sequence.items().begin(), sequence.items().end());
      return Value::list(std::move(items), sequence.is_tuple());
    }
    case BinaryOp::div:
      if (!numbers) return unsupported("/");
      if (b.as_double() == 0) fail("division by zero");
      return Value::number(a.as_double() / b.as_double());
    case BinaryOp::floordiv:
      if (!numbers) return unsupported("//");
      if (b.as_double() == 0) fail("integer division or modulo by zero");
      if (integers) {
        const int64_t q = a.as_int() / b.as_int();
        return Value::integer((a.as_int() % b.as_int() != 0 && ((a.as_int() < 0) != (b.as_int() < 0))) ? q - 1 : q);
      }
      return Value::number(std::floor(a.as_double() / b.as_double()));
    case BinaryOp::mod:
      if (a.is_string()) {
        std::vector<Value> values = b.is_tuple() ? b.items() : std::vector<Value>{b};
        return apply_filter("format", a, CallArgs{values, {}});
      }
      if (!numbers) return unsupported("%");
      if (b.as_double() == 0) fail("integer division or modulo by zero");
      if (integers) {
        const int64_t r = a.as_int() % b.as_int();
        return Value::integer(r != 0 && ((r < 0) != (b.as_int() < 0)) ? r + b.as_int() : r);
      }
      {
        const double r = std::fmod(a.as_double(), b.as_double());
        return Value::number(r != 0 && ((r < 0) != (b.as_double() < 0)) ? r + b.as_double() : r);
      }
    case BinaryOp::pow:
      if (integers && b.as_int() >= 0 && b.as_int() <= 62) {
        int64_t result = 1;
        for (int64_t i = 0; i < b.as_int(); ++i) result *= a.as_int();
        return Value::integer(result);
      }
      if (numbers) return Value::number(std::pow(a.as_double(), b.as_double()));
      return unsupported("**");
    case BinaryOp::concat: break;
  }
  return Value(a.to_str() + b.to_str());
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) fail(std::string("'in <string>' requires string as left operand, not ") + item.type_name());
    return container.str().find(item.str()) != std::string::npos;
  }
  if (container.is_dict()) return container.dict().find(dict_key(item)) != nullptr;
  if (container.is_list()) {
    for (const Value& element : container.items())
      if (equal(element, item)) return true;
    return false;
  }
  if (container.is_undefined()) return false;
  fail(std::string("argument of type '") + container.type_name() + "' is not iterable");
}

const std::vector<std::pair<std::string, Value>>& globals() {
  static const std::vector<std::pair<std::string, Value>> table = [] {
    std::vector<std::pair<std::string, Value>> functions;
    for (const char* name : {"range", "namespace", "dict", "raise_exception", "strftime_now", "joiner"})
      functions.emplace_back(name, *global_function(name));
    return functions;
  }();
  return table;
}

class Renderer {
 public:
  Renderer(const Program& program, const Dict& variables, const RenderLimits& limits)
      : program_(program), variables_(variables), limits_(limits) {
    frames_.emplace_back();
    out_ = &rendered_.text;
  }

  Rendered run() {
    exec(program_.body);
    return std::move(rendered_);
  }

 private:
  using Frame = std::vector<std::pair<std::string, Value>>;
  enum class Flow { normal, break_loop, continue_loop };

  void step() {
    if (++steps_ > limits_.max_steps)
      fail("the template ran more than " + std::to_string(limits_.max_steps) + " steps (a loop that does not end?)");
  }

  void write(std::string_view text) {
    if (out_->size() + text.size() > limits_.max_output_bytes)
      fail("the template wrote more than " + std::to_string(limits_.max_output_bytes >> 20) + " MiB");
    out_->append(text);
  }

  // ---- variables

  const Value* find_in(const Frame& frame, std::string_view name) const {
    for (auto it = frame.rbegin(); it != frame.rend(); ++it)
      if (it->first == name) return &it->second;
    return nullptr;
  }

  Value lookup(const std::string& name) const {
    for (size_t i = frames_.size(); i-- > floor_;)
      if (const Value* found = find_in(frames_[i], name)) return *found;
    if (floor_ > 0)
      if (const Value* found = find_in(frames_[0], name)) return *found;
    if (const Value* found = variables_.find(name)) return *found;
    for (const auto& [global, value] : globals())
      if (global == name) return value;
    return Value::undefined("'" + name + "'");
  }

  void assign(const std::string& name, Value value) {
    Frame& frame = frames_.back();
    for (auto& [key, slot] : frame)
      if (key == name) {
        slot = std::move(value);
        return;
      }
    frame.emplace_back(name, std::move(value));
  }

  void assign_targets(const std::vector<std::string>& targets, const Value& value) {
    if (targets.size() == 1) {
      assign(targets[0], value);
      return;
    }
    const std::vector<Value> items = value.iterate();
    if (items.size() != targets.size())
      fail("cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(targets.size()) + " names");
    for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], items[i]);
  }

  // ---- statements

  void exec(const Body& body) {
    for (const Node& node : body) {
      exec(node);
      if (flow_ != Flow::normal) return;
    }
  }

  void exec(const Node& node) {
    step();
    try {
      exec_node(node);
    } catch (const RenderError& error) {
      throw LocatedError(node.line, error.what());
    }
  }

  void exec_node(const Node& node) {
    switch (node.kind) {
      case Node::Kind::text: write(node.text); return;
      case Node::Kind::output: {
        const Value value = eval(*node.exprs[0]);
        if (value.is_string()) write(value.str());
        else write(value.to_str());
        return;
      }
      case Node::Kind::if_:
        for (size_t i = 0; i < node.exprs.size(); ++i)
          if (eval(*node.exprs[i]).truthy()) return exec(node.bodies[i]);
        if (node.bodies.size() > node.exprs.size()) exec(node.bodies.back());
        return;
      case Node::Kind::for_: return exec_for(node);
      case Node::Kind::set:
        if (!node.attribute.empty()) {
          const Value target = lookup(node.text);
          if (!target.is_dict() || !target.dict().is_namespace)
            fail("cannot assign attribute on a " + std::string(target.type_name()) + " ('" + node.text +
                 "' is not a namespace())");
          target.mutable_dict().set(node.attribute, eval(*node.exprs[0]));
        } else {
          assign_targets(node.targets, eval(*node.exprs[0]));
        }
        return;
      case Node::Kind::set_block: {
        Value captured(capture(node.bodies[0]));
        if (!node.exprs.empty()) captured = filter(*node.exprs[0], captured);
        assign(node.targets[0], std::move(captured));
        return;
      }
      case Node::Kind::macro: return define_macro(node);
      case Node::Kind::filter_block: {
        const Value captured = filter(*node.exprs[0], Value(capture(node.bodies[0])));
        write(captured.to_str());
        return;
      }
      case Node::Kind::with: {
        std::vector<Value> values;
        for (const ExprPtr& expr : node.exprs) values.push_back(eval(*expr));
        frames_.emplace_back();
        for (size_t i = 0; i < node.targets.size(); ++i) assign(node.targets[i], values[i]);
        exec(node.bodies[0]);
        frames_.pop_back();
        return;
      }
      case Node::Kind::generation: {
        const bool main_output = out_ == &rendered_.text;
        const size_t begin = out_->size();
        exec(node.bodies[0]);
        if (main_output) rendered_.generation_spans.emplace_back(begin, out_->size());
        return;
      }
      case Node::Kind::break_: flow_ = Flow::break_loop; return;
      case Node::Kind::continue_: flow_ = Flow::continue_loop; return;
    }
  }

  std::string capture(const Body& body) {
    std::string buffer;
    std::string* saved = out_;
    out_ = &buffer;
    exec(body);
    out_ = saved;
    return buffer;
  }

  void exec_for(const Node& node) {
    std::vector<Value> items = eval(*node.exprs[0]).iterate();
    if (node.has_filter) {
      std::vector<Value> kept;
      for (Value& item : items) {
        frames_.emplace_back();
        assign_targets(node.targets, item);
        const bool keep = eval(*node.exprs[1]).truthy();
        frames_.pop_back();
        if (keep) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      if (node.bodies.size() > 1) exec(node.bodies[1]);
      return;
    }
    const int64_t length = static_cast<int64_t>(items.size());
    // What stays the same across iterations is made once: loop.cycle reads the current index.
    auto index = std::make_shared<int64_t>(0);
    const Value cycle = Value::function("loop.cycle", [index](CallArgs& args) {
      if (args.positional.empty()) fail("loop.cycle needs at least one value");
      return args.positional[static_cast<size_t>(*index) % args.positional.size()];
    });
    const Value no_previous = Value::undefined("loop.previtem"), no_next = Value::undefined("loop.nextitem");
    for (int64_t i = 0; i < length; ++i) {
      *index = i;
      frames_.emplace_back();
      assign_targets(node.targets, items[static_cast<size_t>(i)]);
      Dict loop;
      loop.items.reserve(12);
      loop.items.emplace_back("index", Value::integer(i + 1));
      loop.items.emplace_back("index0", Value::integer(i));
      loop.items.emplace_back("revindex", Value::integer(length - i));
      loop.items.emplace_back("revindex0", Value::integer(length - i - 1));
      loop.items.emplace_back("first", Value::boolean(i == 0));
      loop.items.emplace_back("last", Value::boolean(i + 1 == length));
      loop.items.emplace_back("length", Value::integer(length));
      loop.items.emplace_back("depth", Value::integer(1));
      loop.items.emplace_back("depth0", Value::integer(0));
      loop.items.emplace_back("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : no_previous);
      loop.items.emplace_back("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)] : no_next);
      loop.items.emplace_back("cycle", cycle);
      assign("loop", Value::dict(std::move(loop)));
      exec(node.bodies[0]);
      frames_.pop_back();
      if (flow_ == Flow::break_loop) {
        flow_ = Flow::normal;
        break;
      }
      flow_ = Flow::normal;
    }
  }

  void define_macro(const Node& node) {
    const Node* macro = &node;
    assign(node.text, Value::function(node.text, [this, macro](CallArgs& args) { return call_macro(*macro, args); }));
  }

  Value call_macro(const Node& macro, CallArgs& args) {
    if (++call_depth_ > limits_.max_call_depth)
      fail("macro calls nest deeper than " + std::to_string(limits_.max_call_depth) + " (a macro that calls itself?)");
    const size_t saved_floor = floor_;
    const Flow saved_flow = flow_;
    frames_.emplace_back();
    floor_ = frames_.size() - 1;
    std::vector<Value> extra;
    for (size_t i = 0; i < macro.targets.size(); ++i) {
      const std::string& parameter = macro.targets[i];
      const Value* given = nullptr;
      for (const auto& [key, value] : args.keyword)
        if (key == parameter) given = &value;
      if (given == nullptr && i < args.positional.size()) given = &args.positional[i];
      if (given) assign(parameter, *given);
      else if (macro.exprs[i]) assign(parameter, eval(*macro.exprs[i]));
      else assign(parameter, Value::undefined("parameter '" + parameter + "' was not provided"));
    }
    for (size_t i = macro.targets.size(); i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    assign("varargs", Value::list(std::move(extra), true));
    Dict kwargs;
    for (const auto& [key, value] : args.keyword)
      if (std::find(macro.targets.begin(), macro.targets.end(), key) == macro.targets.end()) kwargs.set(key, value);
    assign("kwargs", Value::dict(std::move(kwargs)));
    std::string text = capture(macro.bodies[0]);
    frames_.pop_back();
    floor_ = saved_floor;
    flow_ = saved_flow;
    --call_depth_;
    return Value(std::move(text));
  }

  // ---- expressions

  CallArgs arguments(const Expr& expr, size_t first) {
    CallArgs args;
    args.positional.reserve(expr.children.size() - first);
    for (size_t i = first; i < expr.children.size(); ++i) args.positional.push_back(eval(*expr.children[i]));
    for (const auto& [name, value] : expr.keywords) args.keyword.emplace_back(name, eval(*value));
    return args;
  }

  Value filter(const Expr& expr, const Value& input) {
    const CallArgs args = arguments(expr, 1);
    return apply_filter(expr.name, input, args);
  }

  Value attribute(const Value& object, const std::string& name) {
    if (object.is_dict()) {
      if (const Value* found = object.dict().find(name)) return *found;
      return Value::undefined("'" + std::string(object.dict().is_namespace ? "Namespace" : "dict object") +
                              "' has no attribute '" + name + "'");
    }
    if (object.is_undefined()) undefined_error(object);
    return Value::undefined("'" + std::string(object.type_name()) + " object' has no attribute '" + name + "'");
  }

  Value subscript(const Value& object, const Expr& index_expr) {
    if (object.is_undefined()) undefined_error(object);
    if (index_expr.kind == Expr::Kind::slice) {
      auto part = [&](size_t i) { return index_expr.children[i] ? eval(*index_expr.children[i]) : Value::none(); };
      const Value start = part(0), stop = part(1), stride = part(2);
      if (object.is_string()) {
        const std::vector<std::string_view> points = code_points(object.str());
        std::string out;
        for (size_t i : slice_indices(static_cast<int64_t>(points.size()), start, stop, stride)) out.append(points[i]);
        return Value(out);
      }
      if (object.is_list()) {
        std::vector<Value> items;
        for (size_t i : slice_indices(static_cast<int64_t>(object.items().size()), start, stop, stride))
          items.push_back(object.items()[i]);
        return Value::list(std::move(items), object.is_tuple());
      }
      return Value::undefined("'" + std::string(object.type_name()) + "' object is not subscriptable");
    }
    const Value index = eval(index_expr);
    if (object.is_dict()) {
      if (!index.is_list() && !index.is_dict() && !index.is_undefined() && !index.is_function())
        if (const Value* found = object.dict().find(dict_key(index))) return *found;
      return Value::undefined("'dict object' has no attribute " + index.repr());
    }
    if (object.is_generator()) return Value::undefined("'generator' object is not subscriptable");
    if ((object.is_list() || object.is_string()) && index.is_integer()) {
      if (object.is_list()) {
        const int64_t n = static_cast<int64_t>(object.items().size());
        int64_t i = index.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined("list index " + index.repr() + " out of range");
        return object.items()[static_cast<size_t>(i)];
      }
      const std::vector<std::string_view> points = code_points(object.str());
      const int64_t n = static_cast<int64_t>(points.size());
      int64_t i = index.as_int();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined("string index " + index.repr() + " out of range");
      return Value(std::string(points[static_cast<size_t>(i)]));
    }
    return Value::undefined("'" + std::string(object.type_name()) + " object' has no item " + index.repr());
  }

  Value call(const Expr& expr) {
    const Expr& callee = *expr.children[0];
    if (callee.kind == Expr::Kind::attribute) {
      const Value object = eval(*callee.children[0]);
      if (object.is_undefined()) undefined_error(object);
      CallArgs args = arguments(expr, 1);
      if (std::optional<Value> result = call_method(object, callee.name, args)) return std::move(*result);
      const Value function = attribute(object, callee.name);
      if (!function.is_function())
        fail("'" + std::string(object.type_name()) + "' object has no method '" + callee.name + "'");
      return function.function().call(args);
    }
    const Value function = eval(callee);
    if (function.is_undefined()) undefined_error(function);
    if (!function.is_function()) fail("'" + std::string(function.type_name()) + "' object is not callable");
    CallArgs args = arguments(expr, 1);
    return function.function().call(args);
  }

  Value eval(const Expr& expr) {
    step();
    switch (expr.kind) {
      case Expr::Kind::literal: return expr.literal;
      case Expr::Kind::name: return lookup(expr.name);
      case Expr::Kind::list:
      case Expr::Kind::tuple: {
        std::vector<Value> items;
        items.reserve(expr.children.size());
        for (const ExprPtr& child : expr.children) items.push_back(eval(*child));
        return Value::list(std::move(items), expr.kind == Expr::Kind::tuple);
      }
      case Expr::Kind::dict: {
        Dict dict;
        for (size_t i = 0; i + 1 < expr.children.size(); i += 2) {
          const Value key = eval(*expr.children[i]);
          dict.set(dict_key(key), eval(*expr.children[i + 1]));
        }
        return Value::dict(std::move(dict));
      }
      case Expr::Kind::attribute: return attribute(eval(*expr.children[0]), expr.name);
      case Expr::Kind::subscript: return subscript(eval(*expr.children[0]), *expr.children[1]);
      case Expr::Kind::slice: fail("a slice outside brackets");
      case Expr::Kind::call:
      case Expr::Kind::filter:
      case Expr::Kind::test:
        try {
          if (expr.kind == Expr::Kind::call) return call(expr);
          const Value input = eval(*expr.children[0]);
          if (expr.kind == Expr::Kind::filter) return filter(expr, input);
          const CallArgs args = arguments(expr, 1);
          return Value::boolean(apply_test(expr.name, input, args) != expr.negated);
        } catch (TemplateRaised& raised) {
          if (raised.line == 0) raised.line = expr.line;
          throw;
        } catch (const RenderError& error) {
          throw LocatedError(expr.line, error.what());
        }
      case Expr::Kind::not_: return Value::boolean(!eval(*expr.children[0]).truthy());
      case Expr::Kind::negate: {
        const Value value = eval(*expr.children[0]);
        if (value.is_integer()) return Value::integer(-value.as_int());
        if (value.is_number()) return Value::number(-value.as_double());
        if (value.is_undefined()) undefined_error(value);
        fail(std::string("bad operand type for unary -: '") + value.type_name() + "'");
      }
      case Expr::Kind::binary: return arithmetic(expr.op, eval(*expr.children[0]), eval(*expr.children[1]));
      case Expr::Kind::compare: {
        Value left = eval(*expr.children[0]);
        for (size_t i = 0; i < expr.compare_ops.size(); ++i) {
          Value right = eval(*expr.children[i + 1]);
          bool result = false;
          switch (expr.compare_ops[i]) {
            case CompareOp::eq: result = equal(left, right); break;
            case CompareOp::ne: result = !equal(left, right); break;
            case CompareOp::lt: result = less(left, right); break;
            case CompareOp::le: result = !less(right, left); break;
            case CompareOp::gt: result = less(right, left); break;
            case CompareOp::ge: result = !less(left, right); break;
            case CompareOp::in: result = contains(right, left); break;
            case CompareOp::not_in: result = !contains(right, left); break;
          }
          if (!result) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case Expr::Kind::and_: {
        Value left = eval(*expr.children[0]);
        return left.truthy() ? eval(*expr.children[1]) : left;
      }
      case Expr::Kind::or_: {
        Value left = eval(*expr.children[0]);
        return left.truthy() ? left : eval(*expr.children[1]);
      }
      case Expr::Kind::conditional:
        if (eval(*expr.children[0]).truthy()) return eval(*expr.children[1]);
        return expr.children[2] ? eval(*expr.children[2]) : Value::undefined("the else branch of a conditional");
    }
    return Value();
  }

  const Program& program_;
  const Dict& variables_;
  const RenderLimits& limits_;
  std::vector<Frame> frames_;
  size_t floor_ = 0;  // lookups see frames from here up, then the root frame (a macro's own scope)
  Rendered rendered_;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  Flow flow_ = Flow::normal;
};

std::vector<std::string> split_lines(std::string_view source) {
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r' || source[i] == '\n') {
      if (source[i] == '\r' && i + 1 < source.size() && source[i + 1] == '\n') ++i;
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line += source[i];
    }
  }
  lines.push_back(std::move(line));
  return lines;
}

}  // namespace

Template::Template(std::string_view source, std::string origin) : lines_(split_lines(source)), origin_(std::move(origin)) {
  try {
    program_ = std::make_shared<const Program>(parse(tokenize(source)));
  } catch (const LocatedError& error) {
    ZT_THROW(origin_ << ", line " << error.line << ": " << error.what() << describe_line(error.line));
  }
}

bool Template::has_generation_blocks() const { return program_->has_generation; }

std::string Template::describe_line(int line) const {
  if (line < 1 || static_cast<size_t>(line) > lines_.size()) return "";
  std::string text = lines_[static_cast<size_t>(line) - 1];
  if (text.size() > 240) text = text.substr(0, 240) + " ...";
  return "\n  " + std::to_string(line) + " | " + text;
}

Rendered Template::render(const Dict& variables, const RenderLimits& limits) const {
  try {
    return Renderer(*program_, variables, limits).run();
  } catch (const TemplateRaised& raised) {
    ZT_THROW(origin_ << ", line " << raised.line << ": the template refuses the conversation: " << raised.what()
                     << describe_line(raised.line));
  } catch (const LocatedError& error) {
    ZT_THROW(origin_ << ", line " << error.line << ": " << error.what() << describe_line(error.line));
  } catch (const RenderError& error) {
    ZT_THROW(origin_ << ": " << error.what());
  }
}

}  // namespace zt::data::jinja
