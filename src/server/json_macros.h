// Handler shorthands for reading a JSON body and typed fields; each returns
// the 400/413 problem from the enclosing handler coroutine on failure.
#pragma once

#define HIFI_READ_JSON(var)                                                      \
  auto var##_or = co_await read_json(ctx);                                       \
  if (auto* p = std::get_if<StringResponse>(&var##_or)) co_return std::move(*p); \
  auto& var = std::get<boost::json::object>(var##_or)

#define HIFI_FIELD(var, expr)                                             \
  auto var##_r = (expr);                                                  \
  if (!var##_r) co_return bad_request(ctx, var##_r.status().message());   \
  auto var = std::move(*var##_r)

// HIFI_FIELD for one field of `fields` (a JsonFields) read with `getter`
// (required_string, optional_int...): the 400 is invalid-parameter naming it.
#define HIFI_PARAM(var, fields, getter, name)                                         \
  auto var##_r = (fields).getter(name);                                               \
  if (!var##_r) co_return invalid_parameter(ctx, name, var##_r.status().message());   \
  auto var = std::move(*var##_r)
