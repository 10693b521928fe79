/*
 * ngx_http_edgekey_refuse.c -- a refusal of ngx_http_edgekey_module, as
 * edgekeyd's /v1/validate answers it: libedgekey's JSON body
 * (ek_result_json), X-Edgekey-* headers, WWW-Authenticate (RFC 6750) and
 * Retry-After; or the bare status and headers for a location's own
 * error_page (or `satisfy any`), as nginx's own access modules do.
 */
#include "ngx_http_edgekey_module.h"


static ngx_int_t
ngx_http_edgekey_add_header(ngx_http_request_t *r, ngx_str_t *key,
    const char *value, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *key;
    h->value.len = ngx_strlen(value);
    h->value.data = (u_char *) value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (out != NULL) {
        *out = h;
    }
    return NGX_OK;
}


static ngx_int_t
ngx_http_edgekey_has_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *err_page;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->error_pages == NULL || r->error_page) {
        return 0;
    }

    err_page = clcf->error_pages->elts;
    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if ((ngx_uint_t) err_page[i].status == status) {
            return 1;
        }
    }

    return 0;
}


/* Answers a refusal: edgekeyd's headers and JSON body, or only the status
 * and headers when the location has its own error_page for it. */
ngx_int_t
ngx_http_edgekey_refuse(ngx_http_request_t *r, ek_result *res)
{
    size_t                     n;
    u_char                    *body;
    ngx_int_t                  rc;
    ngx_uint_t                 status;
    const char                *challenge;
    ngx_http_complex_value_t   cv;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_str_t  code_key = ngx_string("X-Edgekey-Code");
    static ngx_str_t  key_id_key = ngx_string("X-Edgekey-Key-Id");
    static ngx_str_t  workspace_key = ngx_string("X-Edgekey-Workspace");
    static ngx_str_t  role_key = ngx_string("X-Edgekey-Role");
    static ngx_str_t  type_key = ngx_string("X-Edgekey-Type");
    static ngx_str_t  env_key = ngx_string("X-Edgekey-Env");
    static ngx_str_t  www_key = ngx_string("WWW-Authenticate");
    static ngx_str_t  retry_key = ngx_string("Retry-After");
    static ngx_str_t  json_type = ngx_string("application/json");

    status = (ngx_uint_t) res->status;

    if (ngx_http_edgekey_add_header(r, &code_key, ek_code_name(res->code),
                                    NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (res->key_id[0] != '\0'
        && (ngx_http_edgekey_add_header(r, &key_id_key, res->key_id, NULL)
            != NGX_OK
            || ngx_http_edgekey_add_header(r, &workspace_key, res->workspace,
                                           NULL) != NGX_OK
            || ngx_http_edgekey_add_header(r, &role_key, res->role, NULL)
               != NGX_OK
            || ngx_http_edgekey_add_header(r, &type_key,
                                           ek_type_name(res->type), NULL)
               != NGX_OK
            || ngx_http_edgekey_add_header(r, &env_key,
                                           ek_env_name(res->env), NULL)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    challenge = ek_result_challenge(res);
    if (challenge != NULL
        && ngx_http_edgekey_add_header(r, &www_key, challenge,
                                       &r->headers_out.www_authenticate)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_edgekey_add_header(r, &retry_key, "1", NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY
        || ngx_http_edgekey_has_error_page(r, status))
    {
        return (ngx_int_t) status;
    }

    body = ngx_pnalloc(r->pool, EK_RESULT_JSON_MAX);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = ek_result_json(res, (char *) body, EK_RESULT_JSON_MAX);

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value.data = body;
    cv.value.len = ngx_min(n, EK_RESULT_JSON_MAX - 1);

    rc = ngx_http_send_response(r, status, &json_type, &cv);

    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}
