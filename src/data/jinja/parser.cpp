#include "data/jinja/parser.h"

#include <algorithm>

namespace zt::data::jinja {
namespace {

constexpr int kMaxNesting = 200;  // nested expressions and blocks; deeper is an error, not a stack overflow

std::string describe(const Token& token) {
  switch (token.type) {
    case Token::Type::text: return "template text";
    case Token::Type::block_begin: return "'{%'";
    case Token::Type::block_end: return "'%}'";
    case Token::Type::variable_begin: return "'{{'";
    case Token::Type::variable_end: return "'}}'";
    case Token::Type::name: return "'" + token.text + "'";
    case Token::Type::string: return "a string";
    case Token::Type::integer:
    case Token::Type::number: return "the number " + token.text;
    case Token::Type::op: return "'" + token.text + "'";
    case Token::Type::end: return "the end of the template";
  }
  return "?";
}

Node make_node(Node::Kind kind, int line) {
  Node node;
  node.kind = kind;
  node.line = line;
  return node;
}

ExprPtr make(Expr::Kind kind, int line) {
  auto expr = std::make_unique<Expr>();
  expr->kind = kind;
  expr->line = line;
  return expr;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Program run() {
    Program program;
    std::string end_tag;
    program.body = body({}, end_tag);
    program.has_generation = has_generation_;
    return program;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(index_ + ahead, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& token = peek();
    if (index_ < tokens_.size() - 1) ++index_;
    return token;
  }
  bool at_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).type == Token::Type::op && peek(ahead).text == op;
  }
  bool at_name(const char* name, size_t ahead = 0) const {
    return peek(ahead).type == Token::Type::name && peek(ahead).text == name;
  }
  [[noreturn]] void fail(const std::string& message) const { throw LocatedError(peek().line, message); }
  void expect_op(const char* op) {
    if (!at_op(op)) fail(std::string("expected '") + op + "', found " + describe(peek()));
    next();
  }
  void expect_name(const char* name) {
    if (!at_name(name)) fail(std::string("expected '") + name + "', found " + describe(peek()));
    next();
  }
  std::string expect_identifier(const char* what) {
    if (peek().type != Token::Type::name) fail(std::string("expected ") + what + ", found " + describe(peek()));
    return next().text;
  }
  void expect_block_end(const char* statement) {
    if (peek().type != Token::Type::block_end)
      fail(std::string("expected '%}' to end the '") + statement + "' tag, found " + describe(peek()));
    next();
  }

  struct Depth {
    explicit Depth(Parser& parser) : parser(parser) {
      if (++parser.depth_ > kMaxNesting) parser.fail("the template nests deeper than 200 levels");
    }
    ~Depth() { --parser.depth_; }
    Parser& parser;
  };

  // Statements until one of `ends` (a block tag named so); its name goes to end_tag. Empty `ends`: to the end.
  Body body(const std::vector<std::string>& ends, std::string& end_tag) {
    Depth depth(*this);
    Body nodes;
    const int start_line = peek().line;
    for (;;) {
      const Token& token = peek();
      switch (token.type) {
        case Token::Type::end:
          if (!ends.empty())
            throw LocatedError(start_line, "the block opened here is never closed (expected {% " + ends.back() + " %})");
          return nodes;
        case Token::Type::text: {
          Node node = make_node(Node::Kind::text, token.line);
          node.text = token.text;
          nodes.push_back(std::move(node));
          next();
          break;
        }
        case Token::Type::variable_begin: {
          next();
          Node node = make_node(Node::Kind::output, token.line);
          node.exprs.push_back(tuple_or_expression(true));
          if (peek().type != Token::Type::variable_end) fail("expected '}}', found " + describe(peek()));
          next();
          nodes.push_back(std::move(node));
          break;
        }
        case Token::Type::block_begin: {
          const Token& name = peek(1);
          if (name.type == Token::Type::name && std::find(ends.begin(), ends.end(), name.text) != ends.end()) {
            next();
            next();
            end_tag = name.text;
            return nodes;
          }
          next();
          nodes.push_back(statement());
          break;
        }
        default: fail("unexpected " + describe(token));
      }
    }
  }

  Node statement() {
    const int line = peek().line;
    const std::string keyword = expect_identifier("a statement name after '{%'");
    if (keyword == "if") return if_statement(line);
    if (keyword == "for") return for_statement(line);
    if (keyword == "set") return set_statement(line);
    if (keyword == "macro") return macro_statement(line);
    if (keyword == "filter") return filter_statement(line);
    if (keyword == "with") return with_statement(line);
    if (keyword == "generation") {
      has_generation_ = true;
      Node node = make_node(Node::Kind::generation, line);
      expect_block_end("generation");
      std::string end_tag;
      node.bodies.push_back(body({"endgeneration"}, end_tag));
      expect_block_end("endgeneration");
      return node;
    }
    if (keyword == "break" || keyword == "continue") {
      if (loop_depth_ == 0) throw LocatedError(line, "'" + keyword + "' outside a for loop");
      expect_block_end(keyword.c_str());
      return make_node(keyword == "break" ? Node::Kind::break_ : Node::Kind::continue_, line);
    }
    throw LocatedError(line, "the '" + keyword + "' statement is not one a chat template may use (ztune renders if, for, "
                             "set, macro, filter, with, generation, break and continue)");
  }

  Node if_statement(int line) {
    Node node = make_node(Node::Kind::if_, line);
    node.exprs.push_back(tuple_or_expression(true));
    expect_block_end("if");
    for (;;) {
      std::string end_tag;
      node.bodies.push_back(body({"elif", "else", "endif"}, end_tag));
      if (end_tag == "elif") {
        node.exprs.push_back(tuple_or_expression(true));
        expect_block_end("elif");
      } else if (end_tag == "else") {
        expect_block_end("else");
        node.bodies.push_back(body({"endif"}, end_tag));
        expect_block_end("endif");
        return node;
      } else {
        expect_block_end("endif");
        return node;
      }
    }
  }

  std::vector<std::string> assign_targets() {
    std::vector<std::string> targets;
    const bool parenthesised = at_op("(");
    if (parenthesised) next();
    do {
      targets.push_back(expect_identifier("a variable name"));
    } while (at_op(",") && (next(), peek().type == Token::Type::name));
    if (parenthesised) expect_op(")");
    return targets;
  }

  Node for_statement(int line) {
    Node node = make_node(Node::Kind::for_, line);
    node.targets = assign_targets();
    expect_name("in");
    node.exprs.push_back(tuple_or_expression(false));
    if (at_name("if")) {
      next();
      node.exprs.push_back(expression());
      node.has_filter = true;
    }
    if (at_name("recursive")) fail("recursive for loops are not supported");
    expect_block_end("for");
    ++loop_depth_;
    std::string end_tag;
    node.bodies.push_back(body({"else", "endfor"}, end_tag));
    --loop_depth_;
    if (end_tag == "else") {
      expect_block_end("else");
      node.bodies.push_back(body({"endfor"}, end_tag));
    }
    expect_block_end("endfor");
    return node;
  }

  Node set_statement(int line) {
    Node node = make_node(Node::Kind::set, line);
    const std::string first = expect_identifier("a variable name after 'set'");
    if (at_op(".")) {
      next();
      node.text = first;
      node.attribute = expect_identifier("an attribute name");
    } else {
      node.targets.push_back(first);
      while (at_op(",")) {
        next();
        node.targets.push_back(expect_identifier("a variable name"));
      }
    }
    if (at_op("=")) {
      next();
      node.exprs.push_back(tuple_or_expression(true));
      expect_block_end("set");
      return node;
    }
    if (!node.attribute.empty() || node.targets.size() != 1) fail("expected '=' after the set target");
    node.kind = Node::Kind::set_block;
    if (at_op("|")) {
      next();
      node.exprs.push_back(filter(make(Expr::Kind::literal, line)));
    }
    expect_block_end("set");
    std::string end_tag;
    node.bodies.push_back(body({"endset"}, end_tag));
    expect_block_end("endset");
    return node;
  }

  Node macro_statement(int line) {
    Node node = make_node(Node::Kind::macro, line);
    node.text = expect_identifier("the macro's name");
    expect_op("(");
    while (!at_op(")")) {
      node.targets.push_back(expect_identifier("a parameter name"));
      if (at_op("=")) {
        next();
        node.exprs.push_back(expression());
      } else {
        node.exprs.push_back(nullptr);
      }
      if (!at_op(",")) break;
      next();
    }
    expect_op(")");
    expect_block_end("macro");
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    std::string end_tag;
    node.bodies.push_back(body({"endmacro"}, end_tag));
    loop_depth_ = saved_loops;
    if (peek().type == Token::Type::name) next();  // {% endmacro name %}
    expect_block_end("endmacro");
    return node;
  }

  Node filter_statement(int line) {
    Node node = make_node(Node::Kind::filter_block, line);
    node.exprs.push_back(filter(make(Expr::Kind::literal, line)));
    expect_block_end("filter");
    std::string end_tag;
    node.bodies.push_back(body({"endfilter"}, end_tag));
    expect_block_end("endfilter");
    return node;
  }

  Node with_statement(int line) {
    Node node = make_node(Node::Kind::with, line);
    while (peek().type == Token::Type::name) {
      node.targets.push_back(next().text);
      expect_op("=");
      node.exprs.push_back(expression());
      if (!at_op(",")) break;
      next();
    }
    expect_block_end("with");
    std::string end_tag;
    node.bodies.push_back(body({"endwith"}, end_tag));
    expect_block_end("endwith");
    return node;
  }

  // ---- expressions

  bool starts_expression() const {
    const Token& token = peek();
    switch (token.type) {
      case Token::Type::name: return true;
      case Token::Type::string:
      case Token::Type::integer:
      case Token::Type::number: return true;
      case Token::Type::op: return token.text == "(" || token.text == "[" || token.text == "{" || token.text == "-";
      default: return false;
    }
  }

  // An expression, or several separated by commas (a tuple without parentheses).
  ExprPtr tuple_or_expression(bool with_conditional) {
    const int line = peek().line;
    ExprPtr first = with_conditional ? expression() : or_expression();
    if (!at_op(",")) return first;
    ExprPtr tuple = make(Expr::Kind::tuple, line);
    tuple->children.push_back(std::move(first));
    while (at_op(",")) {
      next();
      if (!starts_expression()) break;
      tuple->children.push_back(with_conditional ? expression() : or_expression());
    }
    return tuple;
  }

  ExprPtr expression() {
    Depth depth(*this);
    const int line = peek().line;
    ExprPtr value = or_expression();
    while (at_name("if")) {
      next();
      ExprPtr conditional = make(Expr::Kind::conditional, line);
      conditional->children.push_back(or_expression());
      conditional->children.push_back(std::move(value));
      if (at_name("else")) {
        next();
        conditional->children.push_back(expression());
      } else {
        conditional->children.push_back(nullptr);
      }
      value = std::move(conditional);
    }
    return value;
  }

  ExprPtr binary_node(Expr::Kind kind, ExprPtr left, ExprPtr right, int line) {
    ExprPtr node = make(kind, line);
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return node;
  }

  ExprPtr or_expression() {
    ExprPtr left = and_expression();
    while (at_name("or")) {
      const int line = next().line;
      left = binary_node(Expr::Kind::or_, std::move(left), and_expression(), line);
    }
    return left;
  }

  ExprPtr and_expression() {
    ExprPtr left = not_expression();
    while (at_name("and")) {
      const int line = next().line;
      left = binary_node(Expr::Kind::and_, std::move(left), not_expression(), line);
    }
    return left;
  }

  ExprPtr not_expression() {
    if (at_name("not")) {
      Depth depth(*this);
      const int line = next().line;
      ExprPtr node = make(Expr::Kind::not_, line);
      node->children.push_back(not_expression());
      return node;
    }
    return comparison();
  }

  ExprPtr comparison() {
    const int line = peek().line;
    ExprPtr first = math1();
    ExprPtr node;
    for (;;) {
      CompareOp op;
      if (at_op("==")) op = CompareOp::eq;
      else if (at_op("!=")) op = CompareOp::ne;
      else if (at_op("<")) op = CompareOp::lt;
      else if (at_op("<=")) op = CompareOp::le;
      else if (at_op(">")) op = CompareOp::gt;
      else if (at_op(">=")) op = CompareOp::ge;
      else if (at_name("in")) op = CompareOp::in;
      else if (at_name("not") && at_name("in", 1)) op = CompareOp::not_in;
      else break;
      next();
      if (op == CompareOp::not_in) next();
      if (!node) {
        node = make(Expr::Kind::compare, line);
        node->children.push_back(std::move(first));
      }
      node->compare_ops.push_back(op);
      node->children.push_back(math1());
    }
    return node ? std::move(node) : std::move(first);
  }

  ExprPtr binary(ExprPtr left, BinaryOp op, ExprPtr right, int line) {
    ExprPtr node = binary_node(Expr::Kind::binary, std::move(left), std::move(right), line);
    node->op = op;
    return node;
  }

  ExprPtr math1() {
    ExprPtr left = concat();
    while (at_op("+") || at_op("-")) {
      const Token& token = next();
      left = binary(std::move(left), token.text == "+" ? BinaryOp::add : BinaryOp::sub, concat(), token.line);
    }
    return left;
  }

  ExprPtr concat() {
    ExprPtr left = math2();
    while (at_op("~")) {
      const int line = next().line;
      left = binary(std::move(left), BinaryOp::concat, math2(), line);
    }
    return left;
  }

  ExprPtr math2() {
    ExprPtr left = power();
    for (;;) {
      BinaryOp op;
      if (at_op("*")) op = BinaryOp::mul;
      else if (at_op("/")) op = BinaryOp::div;
      else if (at_op("//")) op = BinaryOp::floordiv;
      else if (at_op("%")) op = BinaryOp::mod;
      else break;
      const int line = next().line;
      left = binary(std::move(left), op, power(), line);
    }
    return left;
  }

  ExprPtr power() {
    ExprPtr left = unary(true);
    while (at_op("**")) {
      const int line = next().line;
      left = binary(std::move(left), BinaryOp::pow, unary(true), line);
    }
    return left;
  }

  ExprPtr unary(bool with_filter) {
    Depth depth(*this);
    const int line = peek().line;
    ExprPtr node;
    if (at_op("-")) {
      next();
      node = make(Expr::Kind::negate, line);
      node->children.push_back(unary(false));
    } else if (at_op("+")) {
      next();
      node = unary(false);
    } else {
      node = primary();
    }
    node = postfix(std::move(node));
    if (with_filter) node = filter_expression(std::move(node));
    return node;
  }

  ExprPtr primary() {
    const Token& token = peek();
    switch (token.type) {
      case Token::Type::name: {
        next();
        ExprPtr node = make(Expr::Kind::literal, token.line);
        if (token.text == "true" || token.text == "True") node->literal = Value::boolean(true);
        else if (token.text == "false" || token.text == "False") node->literal = Value::boolean(false);
        else if (token.text == "none" || token.text == "None") node->literal = Value::none();
        else {
          node->kind = Expr::Kind::name;
          node->name = token.text;
        }
        return node;
      }
      case Token::Type::string: {
        std::string text;
        const int line = token.line;
        while (peek().type == Token::Type::string) text += next().text;  // 'a' 'b' is 'ab'
        ExprPtr node = make(Expr::Kind::literal, line);
        node->literal = Value(std::move(text));
        return node;
      }
      case Token::Type::integer: {
        next();
        ExprPtr node = make(Expr::Kind::literal, token.line);
        node->literal = Value::integer(token.integer);
        return node;
      }
      case Token::Type::number: {
        next();
        ExprPtr node = make(Expr::Kind::literal, token.line);
        node->literal = Value::number(token.number);
        return node;
      }
      case Token::Type::op:
        if (token.text == "(") {
          next();
          if (at_op(")")) {
            next();
            return make(Expr::Kind::tuple, token.line);
          }
          ExprPtr first = expression();
          if (at_op(")")) {
            next();
            return first;
          }
          ExprPtr tuple = make(Expr::Kind::tuple, token.line);
          tuple->children.push_back(std::move(first));
          while (at_op(",")) {
            next();
            if (at_op(")")) break;
            tuple->children.push_back(expression());
          }
          expect_op(")");
          return tuple;
        }
        if (token.text == "[") {
          next();
          ExprPtr list = make(Expr::Kind::list, token.line);
          while (!at_op("]")) {
            list->children.push_back(expression());
            if (!at_op(",")) break;
            next();
          }
          expect_op("]");
          return list;
        }
        if (token.text == "{") {
          next();
          ExprPtr dict = make(Expr::Kind::dict, token.line);
          while (!at_op("}")) {
            dict->children.push_back(expression());
            expect_op(":");
            dict->children.push_back(expression());
            if (!at_op(",")) break;
            next();
          }
          expect_op("}");
          return dict;
        }
        break;
      default: break;
    }
    fail("expected an expression, found " + describe(token));
  }

  ExprPtr postfix(ExprPtr node) {
    for (;;) {
      const int line = peek().line;
      if (at_op(".")) {
        next();
        if (peek().type == Token::Type::integer) {  // x.0 is x[0]
          ExprPtr index = make(Expr::Kind::literal, line);
          index->literal = Value::integer(next().integer);
          ExprPtr subscript = make(Expr::Kind::subscript, line);
          subscript->children.push_back(std::move(node));
          subscript->children.push_back(std::move(index));
          node = std::move(subscript);
          continue;
        }
        ExprPtr attribute = make(Expr::Kind::attribute, line);
        attribute->name = expect_identifier("an attribute name after '.'");
        attribute->children.push_back(std::move(node));
        node = std::move(attribute);
      } else if (at_op("[")) {
        next();
        ExprPtr subscript = make(Expr::Kind::subscript, line);
        subscript->children.push_back(std::move(node));
        subscript->children.push_back(subscript_argument());
        expect_op("]");
        node = std::move(subscript);
      } else if (at_op("(")) {
        node = call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr subscript_argument() {
    const int line = peek().line;
    ExprPtr start;
    if (!at_op(":")) {
      start = expression();
      if (!at_op(":")) return start;
    }
    ExprPtr slice = make(Expr::Kind::slice, line);
    slice->children.push_back(std::move(start));
    next();  // ':'
    slice->children.push_back(at_op("]") || at_op(":") ? nullptr : expression());
    if (at_op(":")) {
      next();
      slice->children.push_back(at_op("]") ? nullptr : expression());
    } else {
      slice->children.push_back(nullptr);
    }
    return slice;
  }

  // Arguments in parentheses, appended to node's children and keywords.
  void arguments(Expr& node) {
    expect_op("(");
    while (!at_op(")")) {
      if (at_op("*") || at_op("**")) fail("*args and **kwargs in calls are not supported");
      if (peek().type == Token::Type::name && at_op("=", 1)) {
        std::string name = next().text;
        next();
        node.keywords.emplace_back(std::move(name), expression());
      } else {
        if (!node.keywords.empty()) fail("a positional argument follows a keyword argument");
        node.children.push_back(expression());
      }
      if (!at_op(",")) break;
      next();
    }
    expect_op(")");
  }

  ExprPtr call(ExprPtr callee) {
    ExprPtr node = make(Expr::Kind::call, peek().line);
    node->children.push_back(std::move(callee));
    arguments(*node);
    return node;
  }

  ExprPtr filter(ExprPtr input) {
    ExprPtr node = make(Expr::Kind::filter, peek().line);
    node->name = expect_identifier("a filter name after '|'");
    while (at_op(".")) {
      next();
      node->name += "." + expect_identifier("a filter name");
    }
    node->children.push_back(std::move(input));
    if (at_op("(")) arguments(*node);
    return node;
  }

  ExprPtr filter_expression(ExprPtr node) {
    for (;;) {
      if (at_op("|")) {
        next();
        node = filter(std::move(node));
      } else if (at_name("is")) {
        const int line = next().line;
        ExprPtr test = make(Expr::Kind::test, line);
        if (at_name("not")) {
          next();
          test->negated = true;
        }
        test->name = expect_identifier("a test name after 'is'");
        while (at_op(".")) {
          next();
          test->name += "." + expect_identifier("a test name");
        }
        test->children.push_back(std::move(node));
        if (at_op("(")) {
          arguments(*test);
        } else if ((peek().type == Token::Type::name || peek().type == Token::Type::string ||
                    peek().type == Token::Type::integer || peek().type == Token::Type::number || at_op("[") ||
                    at_op("{")) &&
                   !at_name("else") && !at_name("or") && !at_name("and") && !at_name("if") && !at_name("in") &&
                   !at_name("not") && !at_name("is")) {
          test->children.push_back(postfix(primary()));  // `x is divisibleby 3`, `x is sameas none`
        }
        node = std::move(test);
      } else if (at_op("(")) {
        node = call(std::move(node));
      } else {
        return node;
      }
    }
  }

  const std::vector<Token>& tokens_;
  size_t index_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool has_generation_ = false;
};

}  // namespace

Program parse(const std::vector<Token>& tokens) { return Parser(tokens).run(); }

}  // namespace zt::data::jinja
