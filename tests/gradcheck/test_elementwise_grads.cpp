// Backward rules of the elementwise family (kernels/ops/elementwise_grads.cpp) against central
// finite differences in double: Add/Sub/Mul/Div/Pow on equal shapes, numpy broadcasting in both
// directions and the legacy broadcast/axis attributes of opsets 1-6; Pow's exponent (also an
// integer one); the variadic Sum/Mean/Max/Min with broadcasting and Max/Min ties; Where.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "support/gradcheck.h"

using namespace scalec;
using namespace scalec::test;
using ir::Tensor;

namespace {

// A pair of operand shapes and the opset / attributes they need.
struct Shapes {
  std::vector<int64_t> a, b;
  int64_t opset = 17;
  std::vector<ir::Attribute> attrs;
};

std::vector<Shapes> binary_shapes() {
  return {
      {{2, 3}, {2, 3}, 17, {}},
      {{2, 3, 4}, {3, 1}, 17, {}},                       // B broadcast over the batch and the last axis
      {{4}, {2, 3, 4}, 17, {}},                          // A broadcast up to B's rank
      {{2, 1, 4}, {1, 3, 1}, 17, {}},                    // both broadcast
      {{2, 3}, {}, 17, {}},                              // a scalar B
      {{2, 3, 4}, {2, 3, 4}, 6, {}},                     // opset 6 without broadcasting
      {{2, 3, 4, 5}, {5}, 6, {attr_i("broadcast", 1)}},  // legacy suffix
      {{2, 3, 4, 5}, {3, 4}, 6, {attr_i("broadcast", 1), attr_i("axis", 1)}},
      {{2, 3, 4, 5}, {2}, 5, {attr_i("broadcast", 1), attr_i("axis", 0)}},
  };
}

std::string check_binary(const std::string& op, const Shapes& s, Tensor a, Tensor b) {
  return test::gradcheck(op, {GradInput::data(std::move(a)), GradInput::data(std::move(b))}, s.attrs, at(s.opset));
}

}  // namespace

TEST_CASE("Add, Sub, Mul and Div gradients reach both operands through broadcasting", "[gradcheck][elementwise]") {
  uint64_t seed = 1;
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (const Shapes& s : binary_shapes()) {
      INFO(op << " " << ir::shape_to_string(s.a) << " and " << ir::shape_to_string(s.b) << " at opset " << s.opset);
      Tensor a = test::random_doubles(s.a, ++seed);
      // Div: |b| >= 0.3 keeps 1/b^2 (and the finite-difference error, ~eps^2 a/b^4) small.
      Tensor b =
          std::string(op) == "Div" ? test::random_away_from_zero(s.b, ++seed, 0.3) : test::random_doubles(s.b, ++seed);
      CHECK(check_binary(op, s, a, b) == "");
    }
  }
}

TEST_CASE("Pow gradients reach the base and the exponent", "[gradcheck][elementwise]") {
  uint64_t seed = 50;
  for (const Shapes& s : binary_shapes()) {
    INFO(ir::shape_to_string(s.a) << " ^ " << ir::shape_to_string(s.b) << " at opset " << s.opset);
    // The exponent's gradient a^b ln(a) needs a > 0.
    Tensor base = test::random_doubles(s.a, ++seed, 0.5, 2.0);
    Tensor exponent = test::random_doubles(s.b, ++seed, -2, 2);
    CHECK(check_binary("Pow", s, base, exponent) == "");
  }
  SECTION("an integer exponent (opset 12+) is not differentiated; negative bases work") {
    Tensor base = test::random_away_from_zero({2, 3}, 60, 0.2);
    CHECK(test::gradcheck("Pow", {GradInput::data(base), GradInput::fixed(test::int64s({3}, {2, 3, -1}))}, {},
                          at(15)) == "");
  }
  SECTION("an exponent of 0 at a base of 0") {
    CHECK(test::gradcheck("Pow", {GradInput::data(doubles({3}, {0.0, 0.5, 2.0})),
                                  GradInput::fixed(doubles({3}, {0, 0, 0}))}) == "");
  }
}

TEST_CASE("Sum and Mean pass the gradient to every operand", "[gradcheck][elementwise]") {
  for (const char* op : {"Sum", "Mean"}) {
    INFO(op);
    CHECK(test::gradcheck(op, {GradInput::data(test::random_doubles({2, 3}, 70))}) == "");
    CHECK(test::gradcheck(
              op, {GradInput::data(test::random_doubles({2, 3}, 71)), GradInput::data(test::random_doubles({3}, 72)),
                   GradInput::data(test::random_doubles({1, 3}, 73))}) == "");
    CHECK(test::gradcheck(op, {GradInput::data(test::random_doubles({2, 1, 4}, 74)),
                               GradInput::data(test::random_doubles({3, 1}, 75))}) == "");
    CHECK(test::gradcheck(
              op,
              {GradInput::data(test::random_doubles({2, 3}, 76)), GradInput::data(test::random_doubles({2, 3}, 77))},
              {}, at(6)) == "");
  }
}

TEST_CASE("Max and Min send the gradient to the selected operand", "[gradcheck][elementwise]") {
  for (const char* op : {"Max", "Min"}) {
    INFO(op);
    SECTION(std::string(op) + " of one, two and three operands with broadcasting") {
      CHECK(test::gradcheck(op, {GradInput::data(test::random_doubles({2, 3}, 80))}) == "");
      CHECK(test::gradcheck(op, {GradInput::data(test::random_doubles({2, 3}, 81)),
                                 GradInput::data(test::random_doubles({2, 3}, 82))}) == "");
      CHECK(test::gradcheck(op, {GradInput::data(test::random_doubles({2, 3, 4}, 83)),
                                 GradInput::data(test::random_doubles({4}, 84)),
                                 GradInput::data(test::random_doubles({3, 1}, 85))}) == "");
      CHECK(test::gradcheck(
                op,
                {GradInput::data(test::random_doubles({3, 4}, 86)), GradInput::data(test::random_doubles({1, 4}, 87))},
                {}, at(8)) == "");
    }
    SECTION(std::string(op) + " ties split the gradient evenly") {
      // At a two-way tie the central difference of max(a, b) in a is (a + eps - a) / (2 eps) = 1/2:
      // it measures exactly the split rule (three-way ties get 1/3 each, which no central difference
      // shows). Max ties a and b at element 2, Min at element 0.
      Tensor a = doubles({4}, {0.5, -0.25, 0.75, 0.1});
      Tensor b = doubles({4}, {0.5, 0.3, 0.75, -0.6});
      Tensor c = doubles({4}, {0.9, -0.9, -0.2, 0.4});
      CHECK(test::gradcheck(op, {GradInput::data(a), GradInput::data(b), GradInput::data(c)}) == "");
      // A tie with a broadcast operand: b's gradient sums the shares of every row it ties in.
      Tensor rows = doubles({2, 3}, {0.2, -0.4, 0.6, 0.2, 0.7, -0.6});
      CHECK(test::gradcheck(op, {GradInput::data(rows), GradInput::data(doubles({3}, {0.2, 0.1, -0.6}))}) == "");
    }
  }
}

TEST_CASE("Where sends the gradient to X where the condition holds and to Y elsewhere", "[gradcheck][elementwise]") {
  const Tensor cond = bools({2, 3}, {true, false, false, true, true, false});
  SECTION("equal shapes") {
    CHECK(test::gradcheck("Where", {GradInput::fixed(cond), GradInput::data(test::random_doubles({2, 3}, 90)),
                                    GradInput::data(test::random_doubles({2, 3}, 91))}) == "");
  }
  SECTION("X and Y broadcast against the condition") {
    CHECK(test::gradcheck("Where", {GradInput::fixed(cond), GradInput::data(test::random_doubles({3}, 92)),
                                    GradInput::data(test::random_doubles({2, 1}, 93))}) == "");
  }
  SECTION("the condition broadcast against X and Y, opset 9") {
    CHECK(test::gradcheck(
              "Where",
              {GradInput::fixed(bools({3}, {false, true, true})), GradInput::data(test::random_doubles({2, 3}, 94)),
               GradInput::data(test::random_doubles({}, 95))},
              {}, at(9)) == "");
  }
}
