// The OpenAPI 3.0 document, generated from the route table: every route's
// method and path, path and query parameters, request body, 200 answer and
// the errors it can give, with the hand-written schemas from
// api_schemas(). Generated, not hand-kept, so it cannot drift from what the
// server answers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/router.h"

namespace ws {

// metrics_auth: whether Access::kOpen routes need a token (documented as
// such). schemas: components.schemas; must hold "Error" and every schema a
// route names.
nlohmann::json openapi_document(const Router& router, const nlohmann::json& schemas, const std::string& version,
                                bool metrics_auth = false);

}  // namespace ws
