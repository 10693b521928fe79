/*
 * ngx_http_edgekey_access.c -- the access phase of ngx_http_edgekey_module:
 * each worker's validators, the validation of a request through
 * libedgekey's public C API, and the variables (the refusal:
 * ngx_http_edgekey_refuse.c).
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

/* The answer of an earlier validation of r (before an internal redirect),
 * or NULL. */
static ngx_http_edgekey_req_t *
ngx_http_edgekey_state(ngx_http_request_t *r,
    ngx_http_edgekey_main_conf_t *mcf)
{
    ngx_http_variable_value_t  *vv;

    vv = &r->variables[mcf->var_index[EDGEKEY_VAR_STATUS]];
    if (!vv->valid || vv->not_found || vv->len != 3 || vv->data == NULL) {
        return NULL;
    }

    return (ngx_http_edgekey_req_t *)
               (vv->data - offsetof(ngx_http_edgekey_req_t, status));
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


/* A request's inputs to ek_validate, as nginx holds them. */
typedef struct {
    ngx_table_elt_t  *authorization;
    ngx_table_elt_t  *origin;
    ngx_str_t         permission;   /* len 0 = none */
    ngx_str_t         client_ip;    /* len 0 = none */
} ngx_http_edgekey_input_t;


static ngx_int_t
ngx_http_edgekey_input(ngx_http_request_t *r,
    ngx_http_edgekey_loc_conf_t *lcf, ngx_http_edgekey_input_t *in)
{
    in->authorization = r->headers_in.authorization;
    in->origin = ngx_http_edgekey_origin(r);

    if (lcf->permission == NULL) {
        ngx_str_null(&in->permission);

    } else if (lcf->permission->lengths == NULL) {
        /* a constant from the configuration, NUL-terminated there */
        in->permission = lcf->permission->value;

    } else if (ngx_http_complex_value(r, lcf->permission, &in->permission)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (lcf->client_ip == NULL) {
        in->client_ip = r->connection->addr_text;  /* $remote_addr, after realip */

    } else if (ngx_http_complex_value(r, lcf->client_ip, &in->client_ip)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_inline ngx_int_t
ngx_http_edgekey_same_header(ngx_table_elt_t *h, ngx_table_elt_t *was,
    ngx_str_t *value)
{
    return h == was
           && (h == NULL
               || (h->value.data == value->data && h->value.len == value->len));
}


static ngx_inline ngx_int_t
ngx_http_edgekey_same_str(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}


/* Whether st answers these inputs (an internal redirect to a location that
 * validates the same way). */
static ngx_int_t
ngx_http_edgekey_answers(ngx_http_edgekey_req_t *st,
    ngx_http_edgekey_loc_conf_t *lcf, ngx_http_edgekey_input_t *in)
{
    return st->table_index == lcf->table_index && st->env == lcf->env
           && ngx_http_edgekey_same_header(in->authorization,
                                           st->authorization,
                                           &st->authorization_value)
           && ngx_http_edgekey_same_header(in->origin, st->origin,
                                           &st->origin_value)
           && ngx_http_edgekey_same_str(&in->permission, &st->permission)
           && ngx_http_edgekey_same_str(&in->client_ip, &st->client_ip);
}


/* dst = a NUL-terminated copy of src, in buf when it fits, else in the
 * request's pool. */
static ngx_int_t
ngx_http_edgekey_keep(ngx_http_request_t *r, ngx_str_t *dst, ngx_str_t *src,
    u_char *buf, size_t cap)
{
    u_char  *p;

    p = (src->len < cap) ? buf : ngx_pnalloc(r->pool, src->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (src->len) {
        ngx_memcpy(p, src->data, src->len);
    }
    p[src->len] = '\0';
    dst->data = p;
    dst->len = src->len;
    return NGX_OK;
}


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


/* Validates the inputs against the location's table into st->res and
 * records them in st; NGX_ERROR only when out of memory. */
static ngx_int_t
ngx_http_edgekey_validate(ngx_http_request_t *r,
    ngx_http_edgekey_loc_conf_t *lcf, ngx_http_edgekey_table_t *t,
    ngx_http_edgekey_input_t *in, ngx_http_edgekey_req_t *st)
{
    int          state;
    u_char       auth[256], origin[512];
    ek_result   *res;
    ek_request   q;

    res = &st->res;

    st->table_index = lcf->table_index;
    st->env = lcf->env;
    st->authorization = in->authorization;
    if (in->authorization != NULL) {
        st->authorization_value = in->authorization->value;
    }
    st->origin = in->origin;
    if (in->origin != NULL) {
        st->origin_value = in->origin->value;
    }

    if (lcf->permission != NULL && lcf->permission->lengths == NULL) {
        st->permission = in->permission;  /* the configuration's, kept */

    } else if (ngx_http_edgekey_keep(r, &st->permission, &in->permission,
                                     st->permission_buf,
                                     sizeof(st->permission_buf))
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_edgekey_keep(r, &st->client_ip, &in->client_ip,
                              st->client_ip_buf, sizeof(st->client_ip_buf))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!ngx_http_edgekey_ready(t)) {
        ngx_memzero(res, sizeof(ek_result));
        res->code = EK_CODE_KEYSET_UNAVAILABLE;
        res->status = ek_code_status(EK_CODE_KEYSET_UNAVAILABLE);
        return NGX_OK;
    }

    ngx_memzero(&q, sizeof(ek_request));

    if (in->authorization != NULL) {
        q.authorization = ngx_http_edgekey_cstr(r, &in->authorization->value,
                                                auth, sizeof(auth));
        if (q.authorization == NULL) {
            return NGX_ERROR;
        }
    }

    if (st->permission.len) {
        q.permission = (const char *) st->permission.data;
    }

    if (st->client_ip.len) {
        q.client_ip = (const char *) st->client_ip.data;
    }

    if (in->origin != NULL) {
        q.origin = ngx_http_edgekey_cstr(r, &in->origin->value, origin,
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


ngx_int_t
ngx_http_edgekey_handler(ngx_http_request_t *r)
{
    ngx_uint_t                     i;
    ngx_http_edgekey_req_t        *st;
    ngx_http_edgekey_input_t       in;
    ngx_http_edgekey_table_t      *t;
    ngx_http_variable_value_t     *vv;
    ngx_http_edgekey_loc_conf_t   *lcf;
    ngx_http_edgekey_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_edgekey_module);

    if (lcf->enable != 1) {
        return NGX_DECLINED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_edgekey_module);

    st = ngx_http_edgekey_state(r, mcf);

    /* Refused before an internal redirect: this is the refusal's own
     * error_page, which must not be refused again. */
    if (st != NULL && st->res.status != 200) {
        return NGX_DECLINED;
    }

    if (ngx_http_edgekey_input(r, lcf, &in) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* Accepted before an internal redirect, with the same inputs. */
    if (st != NULL && ngx_http_edgekey_answers(st, lcf, &in)) {
        return NGX_OK;
    }

    if (st == NULL) {
        st = ngx_palloc(r->pool, sizeof(ngx_http_edgekey_req_t));
        if (st == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    t = mcf->tables.elts;
    t = &t[lcf->table_index];

    if (ngx_http_edgekey_validate(r, lcf, t, &in, st) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* $edgekey_status now; the others when read (their slots emptied of
     * an earlier validation's values). */
    st->status[0] = (u_char) ('0' + st->res.status / 100 % 10);
    st->status[1] = (u_char) ('0' + st->res.status / 10 % 10);
    st->status[2] = (u_char) ('0' + st->res.status % 10);
    st->status[3] = '\0';
    st->expires[0] = '\0';

    vv = &r->variables[mcf->var_index[EDGEKEY_VAR_STATUS]];
    vv->len = 3;
    vv->valid = 1;
    vv->no_cacheable = 0;
    vv->not_found = 0;
    vv->escape = 0;
    vv->data = st->status;

    for (i = EDGEKEY_VAR_STATUS + 1; i < EDGEKEY_VAR_COUNT; i++) {
        vv = &r->variables[mcf->var_index[i]];
        vv->valid = 0;
        vv->not_found = 0;
    }

    if (st->res.status == 200) {
        return NGX_OK;
    }

    return ngx_http_edgekey_refuse(r, &st->res);
}


/* $edgekey_*: from the request's answer; not found before a validation (a
 * location without edgekey, or before the access phase). */
ngx_int_t
ngx_http_edgekey_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    const char                    *s;
    ek_result                     *res;
    ngx_http_edgekey_req_t        *st;
    ngx_http_edgekey_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_edgekey_module);

    st = ngx_http_edgekey_state(r, mcf);
    if (st == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    res = &st->res;

    switch (data) {
    case EDGEKEY_VAR_STATUS:
        s = (const char *) st->status;
        break;
    case EDGEKEY_VAR_CODE:
        s = ek_code_name(res->code);
        break;
    case EDGEKEY_VAR_KEY_ID:
        s = res->key_id;
        break;
    case EDGEKEY_VAR_WORKSPACE:
        s = res->workspace;
        break;
    case EDGEKEY_VAR_ROLE:
        s = res->role;
        break;
    case EDGEKEY_VAR_TYPE:
        s = ek_type_name(res->type);
        break;
    case EDGEKEY_VAR_ENV:
        s = ek_env_name(res->env);
        break;
    default: /* EDGEKEY_VAR_EXPIRES_AT: unix seconds, "" for never */
        if (res->expires_at != 0 && st->expires[0] == '\0') {
            *ngx_sprintf(st->expires, "%L", (int64_t) res->expires_at) = '\0';
        }
        s = (const char *) st->expires;
        break;
    }

    v->len = ngx_strlen(s);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->escape = 0;
    v->data = (u_char *) s;

    return NGX_OK;
}
