/*
 * ngx_http_edgekey_module.h -- what the module's files share: the
 * configuration (ngx_http_edgekey_module.c), the access phase
 * (ngx_http_edgekey_access.c) and its refusals (ngx_http_edgekey_refuse.c).
 */
#ifndef NGX_HTTP_EDGEKEY_MODULE_H
#define NGX_HTTP_EDGEKEY_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <edgekey/edgekey.h>

enum {
    EDGEKEY_VAR_STATUS,
    EDGEKEY_VAR_CODE,
    EDGEKEY_VAR_KEY_ID,
    EDGEKEY_VAR_WORKSPACE,
    EDGEKEY_VAR_ROLE,
    EDGEKEY_VAR_TYPE,
    EDGEKEY_VAR_ENV,
    EDGEKEY_VAR_EXPIRES_AT,
    EDGEKEY_VAR_COUNT
};

/* What the log last said about a table (logged again only on a change). */
enum {
    EDGEKEY_STATE_OK = 0,
    EDGEKEY_STATE_CLOSED,       /* ek_open failed: 503 keyset_unavailable */
    EDGEKEY_STATE_UNAVAILABLE,  /* answers keyset_unavailable */
    EDGEKEY_STATE_STALE         /* answers keyset_stale */
};

/* One per distinct edgekey_table; the validator is this worker's. */
typedef struct {
    ngx_str_t      name;        /* NUL-terminated */
    ek_validator  *validator;   /* NULL until ek_open succeeds */
    time_t         next_open;   /* no ek_open try before this time */
    int            open_err;    /* ek_open's last error, 0 = none yet */
    int            state;       /* EDGEKEY_STATE_*, as last logged */
} ngx_http_edgekey_table_t;

typedef struct {
    ngx_array_t    tables;      /* ngx_http_edgekey_table_t */
    ngx_int_t      var_index[EDGEKEY_VAR_COUNT];
} ngx_http_edgekey_main_conf_t;

/*
 * A request's answer, from its first validation. An internal redirect
 * (index, try_files, error_page) clears r->ctx but not r->variables, so the
 * answer is found again through the $edgekey_status slot, whose value is
 * `status` here; the redirected request reuses it when its inputs are the
 * ones it answered, else validates again. Only this module writes the slot
 * (the variables are not changeable).
 */
typedef struct {
    ek_result          res;
    u_char             status[4];       /* "200", "401", "403", "503" */
    u_char             expires[NGX_INT64_LEN + 1];  /* made when read */
    /* the inputs of res */
    ngx_uint_t         table_index;
    ngx_uint_t         env;
    ngx_table_elt_t   *authorization;   /* the header, and its value then */
    ngx_str_t          authorization_value;
    ngx_table_elt_t   *origin;
    ngx_str_t          origin_value;
    ngx_str_t          permission;      /* NUL-terminated; len 0 = none */
    ngx_str_t          client_ip;       /* NUL-terminated; len 0 = none */
    u_char             permission_buf[64];
    u_char             client_ip_buf[NGX_SOCKADDR_STRLEN + 1];
} ngx_http_edgekey_req_t;

typedef struct {
    ngx_str_t                  table;       /* edgekey_table */
    ngx_int_t                  enable;      /* edgekey: 1, off: 0 */
    ngx_http_complex_value_t  *permission;  /* NULL with "" */
    ngx_uint_t                 env;         /* EK_ENV_NONE (any), _LIVE, _TEST */
    ngx_http_complex_value_t  *client_ip;   /* NULL: $remote_addr */
    ngx_uint_t                 table_index; /* in main conf's tables */
} ngx_http_edgekey_loc_conf_t;


extern ngx_module_t  ngx_http_edgekey_module;

ngx_int_t ngx_http_edgekey_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_edgekey_refuse(ngx_http_request_t *r, ek_result *res);
ngx_int_t ngx_http_edgekey_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
ngx_int_t ngx_http_edgekey_init_process(ngx_cycle_t *cycle);
void ngx_http_edgekey_exit_process(ngx_cycle_t *cycle);

#endif /* NGX_HTTP_EDGEKEY_MODULE_H */
