/*
 * ngx_http_edgekey_access.c -- the access phase of ngx_http_edgekey_module:
 * each worker's validators, the validation of a request through
 * libedgekey's public C API, the variables and the refusal.
 * (Directives and invariants: ngx_http_edgekey_module.c.)
 */
#include "ngx_http_edgekey_module.h"


/* Table state and worker lifetime */

static void
ngx_http_edgekey_log_state(ngx_http_edgekey_table_t *t, int state)
{
    ngx_uint_t   level;
    const char  *what;

    if (state == t->state) {
        return;
    }

    switch (state) {
    case EDGEKEY_STATE_OK:
        level = NGX_LOG_NOTICE;
        what = "answers again";
        break;
    case EDGEKEY_STATE_STALE:
        level = NGX_LOG_WARN;
        what = "is older than its staleness bound (policy fail_closed): "
               "requests get 503 keyset_stale until edgekeyd reaches its "
               "upstream again";
        break;
    default:
        level = NGX_LOG_WARN;
        what = "answers keyset_unavailable (never loaded, or a record is "
               "being rewritten): requests get 503";
        break;
    }

    ngx_log_error(level, ngx_cycle->log, 0, "edgekey: table \"%V\" %s",
                  &t->name, what);
    t->state = state;
}


/* Opens the worker's validator when it is not open and the last try is a
 * second old or more. Returns 1 when it is open. */
static ngx_int_t
ngx_http_edgekey_ready(ngx_http_edgekey_table_t *t)
{
    int            rc;
    time_t         now;
    ek_validator  *v;

    if (t->validator != NULL) {
        return 1;
    }

    now = ngx_time();
    if (now < t->next_open) {
        return 0;
    }
    t->next_open = now + 1;

    v = NULL;
    rc = ek_open((const char *) t->name.data, &v);

    if (rc == 0) {
        t->validator = v;
        t->open_err = 0;
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "edgekey: table \"%V\" opened", &t->name);
        t->state = EDGEKEY_STATE_OK;
        return 1;
    }

    if (rc != t->open_err) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "edgekey: cannot open table \"%V\": %s; requests get "
                      "503 keyset_unavailable, retrying every second",
                      &t->name, ek_strerror(rc));
        t->open_err = rc;
        t->state = EDGEKEY_STATE_CLOSED;
    }

    return 0;
}


ngx_int_t
ngx_http_edgekey_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_edgekey_table_t      *t;
    ngx_http_edgekey_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;  /* cache manager and loader validate nothing */
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_edgekey_module);
    if (mcf == NULL) {
        return NGX_OK;
    }

    t = mcf->tables.elts;
    for (i = 0; i < mcf->tables.nelts; i++) {
        t[i].validator = NULL;
        t[i].next_open = 0;
        (void) ngx_http_edgekey_ready(&t[i]);
    }

    return NGX_OK;
}


void
ngx_http_edgekey_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_edgekey_table_t      *t;
    ngx_http_edgekey_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_edgekey_module);
    if (mcf == NULL) {
        return;
    }

    t = mcf->tables.elts;
    for (i = 0; i < mcf->tables.nelts; i++) {
        if (t[i].validator != NULL) {
            ek_close(t[i].validator);
            t[i].validator = NULL;
        }
    }
}


/* The request */

/* `s` NUL-terminated: in `buf` when it fits, else in the request's pool.
 * NULL when out of memory. */
static const char *
ngx_http_edgekey_cstr(ngx_http_request_t *r, ngx_str_t *s, u_char *buf,
    size_t cap)
{
    u_char  *p;

    p = (s->len < cap) ? buf : ngx_pnalloc(r->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    return (const char *) p;
}


static ngx_table_elt_t *
ngx_http_edgekey_origin(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0 && h[i].key.len == sizeof("Origin") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "origin",
                               sizeof("origin") - 1) == 0)
        {
            return &h[i];
        }
    }
}


/* Validates r against the location's table into *res; NGX_ERROR only when
 * out of memory. */
static ngx_int_t
ngx_http_edgekey_validate(ngx_http_request_t *r,
    ngx_http_edgekey_loc_conf_t *lcf, ngx_http_edgekey_table_t *t,
    ek_result *res)
{
    int               state;
    u_char            auth[256], perm[128], ip[NGX_SOCKADDR_STRLEN + 1];
    u_char            origin[512];
    ngx_str_t         s;
    ek_request        q;
    ngx_table_elt_t  *h;

    ngx_memzero(&q, sizeof(ek_request));

    if (!ngx_http_edgekey_ready(t)) {
        ngx_memzero(res, sizeof(ek_result));
        res->code = EK_CODE_KEYSET_UNAVAILABLE;
        res->status = ek_code_status(EK_CODE_KEYSET_UNAVAILABLE);
        return NGX_OK;
    }

    h = r->headers_in.authorization;
    if (h != NULL) {
        q.authorization = ngx_http_edgekey_cstr(r, &h->value, auth,
                                                sizeof(auth));
        if (q.authorization == NULL) {
            return NGX_ERROR;
        }
    }

    if (lcf->permission != NULL) {
        if (lcf->permission->lengths == NULL) {
            /* a constant from the configuration, NUL-terminated there */
            q.permission = (const char *) lcf->permission->value.data;

        } else {
            if (ngx_http_complex_value(r, lcf->permission, &s) != NGX_OK) {
                return NGX_ERROR;
            }
            if (s.len) {
                q.permission = ngx_http_edgekey_cstr(r, &s, perm,
                                                     sizeof(perm));
                if (q.permission == NULL) {
                    return NGX_ERROR;
                }
            }
        }
    }

    if (lcf->client_ip == NULL) {
        s = r->connection->addr_text;  /* $remote_addr, after realip */

    } else if (ngx_http_complex_value(r, lcf->client_ip, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    if (s.len) {
        q.client_ip = ngx_http_edgekey_cstr(r, &s, ip, sizeof(ip));
        if (q.client_ip == NULL) {
            return NGX_ERROR;
        }
    }

    h = ngx_http_edgekey_origin(r);
    if (h != NULL) {
        q.origin = ngx_http_edgekey_cstr(r, &h->value, origin,
                                         sizeof(origin));
        if (q.origin == NULL) {
            return NGX_ERROR;
        }
    }

    if (lcf->env != EK_ENV_NONE) {
        q.env = ek_env_name((int) lcf->env);
    }

    if (ek_validate(t->validator, &q, res) != 0) {
        return NGX_ERROR;  /* only for NULL arguments: cannot happen */
    }

    state = res->code == EK_CODE_KEYSET_STALE ? EDGEKEY_STATE_STALE
            : res->code == EK_CODE_KEYSET_UNAVAILABLE
              ? EDGEKEY_STATE_UNAVAILABLE : EDGEKEY_STATE_OK;
    ngx_http_edgekey_log_state(t, state);

    return NGX_OK;
}


static void
ngx_http_edgekey_set_var(ngx_http_request_t *r,
    ngx_http_edgekey_main_conf_t *mcf, ngx_uint_t var, const char *value)
{
    ngx_http_variable_value_t  *vv;

    vv = &r->variables[mcf->var_index[var]];
    vv->len = ngx_strlen(value);
    vv->valid = 1;
    vv->no_cacheable = 0;
    vv->not_found = 0;
    vv->escape = 0;
    vv->data = (u_char *) value;
}


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
static ngx_int_t
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


ngx_int_t
ngx_http_edgekey_handler(ngx_http_request_t *r)
{
    char                          *expires;
    ek_result                     *res;
    ngx_http_edgekey_table_t      *t;
    ngx_http_variable_value_t     *vv;
    ngx_http_edgekey_loc_conf_t   *lcf;
    ngx_http_edgekey_main_conf_t  *mcf;

    static const char  *status_text[] = { "200", "401", "403", "503" };

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_edgekey_module);

    if (lcf->enable != 1) {
        return NGX_DECLINED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_edgekey_module);

    /* Refused before an internal redirect: this is the refusal's own
     * error_page, which must not be refused again. */
    vv = &r->variables[mcf->var_index[EDGEKEY_VAR_STATUS]];
    if (vv->valid && !vv->not_found && vv->len == 3 && vv->data[0] != '2') {
        return NGX_DECLINED;
    }

    res = ngx_palloc(r->pool, sizeof(ek_result));
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = mcf->tables.elts;
    t = &t[lcf->table_index];

    if (ngx_http_edgekey_validate(r, lcf, t, res) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_STATUS,
                             status_text[res->status == 200 ? 0
                                         : res->status == 401 ? 1
                                         : res->status == 403 ? 2 : 3]);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_CODE,
                             ek_code_name(res->code));
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_KEY_ID, res->key_id);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_WORKSPACE, res->workspace);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_ROLE, res->role);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_TYPE,
                             ek_type_name(res->type));
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_ENV, ek_env_name(res->env));

    expires = "";
    if (res->expires_at != 0) {
        expires = ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
        if (expires == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf((u_char *) expires, "%L", (int64_t) res->expires_at) = '\0';
    }
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_EXPIRES_AT, expires);

    if (res->status == 200) {
        return NGX_OK;
    }

    return ngx_http_edgekey_refuse(r, res);
}


/* A variable not yet set by a validation (a location without edgekey, or
 * before the access phase): not found. */
ngx_int_t
ngx_http_edgekey_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    v->not_found = 1;
    return NGX_OK;
}
