#pragma once
// What the passes of one pipeline run share: data sources, threads, seed, the report sections they
// add, and typed state one pass leaves for a later one (GPTQ's weights for the quantizer).
#include <cstdint>
#include <map>
#include <memory>
#include <typeindex>

#include <nlohmann/json.hpp>

#include "calibration/calibrator.h"

namespace scalec::passes {

struct PassContext {
  calibration::BatchSource calib;  ///< calibration batches; samples 0 when the run has none
  int64_t calib_batch = 32;        ///< samples per calibration run
  int threads = 0;                 ///< 0: the CPUs this process may use
  uint64_t seed = 0;
  bool verify_each = false;        ///< verify the model after every pass
  nlohmann::json report = nlohmann::json::object();  ///< sections passes add, by pass name

  /// The pipeline's one instance of T, created empty on first use.
  template <typename T>
  T& state() {
    std::shared_ptr<void>& slot = states_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

 private:
  std::map<std::type_index, std::shared_ptr<void>> states_;
};

}  // namespace scalec::passes
