/*
 * edgekey._speedups: Validator.validate and its Result in C (CPython's C
 * API), for what the cffi path spends around the C call: argument
 * conversion, copies into C buffers, libffi's call and a Python Result.
 * Optional: the package falls back to the cffi path (edgekey/__init__.py)
 * when this module was not built (no compiler or headers at install time,
 * a free-threaded Python).
 *
 * libedgekey itself is the one _ffi.py opened: setup() receives the
 * addresses of its ek_validate and ek_close, and a Core its ek_validator,
 * so this module links to no library and includes only the header.
 *
 * Threads: every entry point runs with the GIL held, and validate() calls
 * no Python code from its check of `closed` to its return from ek_validate
 * (which neither blocks nor allocates: a short call), so one C validator
 * per Core serves every thread, and close() never frees it under a call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <edgekey/edgekey.h>
#include <stdint.h>
#include <string.h>

#ifdef Py_GIL_DISABLED
#error "edgekey._speedups relies on the GIL: a free-threaded Python uses the cffi path"
#endif
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *Py_NewRef(PyObject *o) {
  Py_INCREF(o);
  return o;
}
#endif

typedef int (*validate_fn)(ek_validator *, const ek_request *, ek_result *);
typedef void (*close_fn)(ek_validator *);

/* Set once by setup(); read-only after. */
static validate_fn g_validate;
static close_fn g_close;
static PyObject *g_closed_error;    /* edgekey.ClosedError */
static PyObject *g_convert;         /* edgekey._bytes(value, what): bytes, or raises */
static PyObject *g_codes;           /* tuple of the ek_code names */
static PyObject *g_types, *g_envs;  /* tuples: (None, "secret", "publishable"), (None, "live", "test") */
static PyObject *g_kw[5];           /* interned argument names */
static const char *const k_names[5] = {"authorization", "permission", "client_ip", "origin", "env"};

/* ---- Result -------------------------------------------------------- */

typedef struct {
  PyObject_HEAD
  int status, code, type, env;
  long long expires_at;
  int has_key; /* key fields hold a found key's (else they read None) */
  char names[48 + 48 + 32]; /* key_id, workspace, role as ek_result holds them; only when has_key */
} ResultObject;

_Static_assert(offsetof(ek_result, workspace) == offsetof(ek_result, key_id) + 48 &&
                   offsetof(ek_result, role) == offsetof(ek_result, key_id) + 96 &&
                   sizeof(((ek_result *)0)->role) == 32,
               "ek_result's key_id, workspace and role follow each other");

static PyObject *name_field(ResultObject *r, int at, int size) {
  if (!r->has_key) Py_RETURN_NONE;
  const char *p = r->names + at;
  size_t n = strnlen(p, (size_t)size);
  if (n == 0) Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "replace");
}

static PyObject *r_status(ResultObject *r, void *c) { (void)c; return PyLong_FromLong(r->status); }
static PyObject *r_ok(ResultObject *r, void *c) { (void)c; return PyBool_FromLong(r->status == 200); }
static PyObject *r_code(ResultObject *r, void *c) {
  (void)c;
  if (r->code >= 0 && r->code < PyTuple_GET_SIZE(g_codes)) return Py_NewRef(PyTuple_GET_ITEM(g_codes, r->code));
  return PyUnicode_FromString("unknown_code");
}
static PyObject *r_key_id(ResultObject *r, void *c) { (void)c; return name_field(r, 0, 48); }
static PyObject *r_workspace(ResultObject *r, void *c) { (void)c; return name_field(r, 48, 48); }
static PyObject *r_role(ResultObject *r, void *c) { (void)c; return name_field(r, 96, 32); }
static PyObject *enum_name(ResultObject *r, PyObject *names, int v) {
  if (!r->has_key || v < 0 || v >= PyTuple_GET_SIZE(names)) Py_RETURN_NONE;
  return Py_NewRef(PyTuple_GET_ITEM(names, v));
}
static PyObject *r_type(ResultObject *r, void *c) { (void)c; return enum_name(r, g_types, r->type); }
static PyObject *r_env(ResultObject *r, void *c) { (void)c; return enum_name(r, g_envs, r->env); }
static PyObject *r_expires_at(ResultObject *r, void *c) {
  (void)c;
  if (!r->has_key || r->expires_at == 0) Py_RETURN_NONE;
  return PyLong_FromLongLong(r->expires_at);
}

static PyGetSetDef result_getset[] = {
    {"status", (getter)r_status, NULL, "200, 401, 403 or 503", NULL},
    {"code", (getter)r_code, NULL, "\"ok\", \"revoked_key\", ...", NULL},
    {"ok", (getter)r_ok, NULL, "status == 200", NULL},
    {"key_id", (getter)r_key_id, NULL, NULL, NULL},
    {"workspace", (getter)r_workspace, NULL, NULL, NULL},
    {"role", (getter)r_role, NULL, NULL, NULL},
    {"type", (getter)r_type, NULL, "\"secret\", \"publishable\"", NULL},
    {"env", (getter)r_env, NULL, "\"live\", \"test\"", NULL},
    {"expires_at", (getter)r_expires_at, NULL, "unix seconds; None = never", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const char *const k_fields[] = {"status", "code", "key_id", "workspace", "role", "type", "env", "expires_at"};

static PyObject *result_as_dict(PyObject *self, PyObject *unused) {
  (void)unused;
  PyObject *d = PyDict_New();
  if (!d) return NULL;
  for (size_t i = 0; i < sizeof k_fields / sizeof *k_fields; ++i) {
    PyObject *v = PyObject_GetAttrString(self, k_fields[i]);
    if (!v || PyDict_SetItemString(d, k_fields[i], v) < 0) {
      Py_XDECREF(v);
      Py_DECREF(d);
      return NULL;
    }
    Py_DECREF(v);
  }
  return d;
}

static PyObject *result_repr(PyObject *self) {
  PyObject *d = result_as_dict(self, NULL);
  if (!d) return NULL;
  PyObject *s = PyUnicode_FromFormat("Result(%R)", d);
  Py_DECREF(d);
  return s;
}

static PyMethodDef result_methods[] = {
    {"as_dict", result_as_dict, METH_NOARGS, "The fields as a dict."},
    {NULL, NULL, 0, NULL},
};

/* Not a GC object, not subclassable, not made from Python: validate()
 * makes each one with one allocation. */
static PyTypeObject ResultType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edgekey.Result",
    .tp_basicsize = sizeof(ResultObject),
    .tp_dealloc = (destructor)PyObject_Free,
    .tp_repr = result_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One answer. status: 200, 401, 403 or 503; code: \"ok\", \"revoked_key\", ...\n"
              "Key fields (key_id, workspace, role, type, env, expires_at) are None when\n"
              "no key was found; expires_at is unix seconds, None for a key that never\n"
              "expires.",
    .tp_methods = result_methods,
    .tp_getset = result_getset,
};

/* ---- Core (edgekey.Validator's base) -------------------------------- */

typedef struct {
  PyObject_HEAD
  ek_validator *v; /* NULL before _attach and after close */
  int closed;
} CoreObject;

static void core_release(CoreObject *c) {
  c->closed = 1;
  if (c->v) {
    ek_validator *v = c->v;
    c->v = NULL;
    g_close(v);
  }
}

static void core_dealloc(PyObject *self) {
  core_release((CoreObject *)self);
  Py_TYPE(self)->tp_free(self);
}

static PyObject *core_attach(PyObject *self, PyObject *arg) {
  CoreObject *c = (CoreObject *)self;
  if (!g_validate) {
    PyErr_SetString(PyExc_RuntimeError, "edgekey._speedups: setup() was not called");
    return NULL;
  }
  void *p = PyLong_AsVoidPtr(arg);
  if (!p && PyErr_Occurred()) return NULL;
  if (c->v || c->closed) {
    PyErr_SetString(PyExc_RuntimeError, "edgekey._speedups: a Core is attached once");
    return NULL;
  }
  c->v = (ek_validator *)p;
  Py_RETURN_NONE;
}

static PyObject *core_close(PyObject *self, PyObject *unused) {
  (void)unused;
  core_release((CoreObject *)self);
  Py_RETURN_NONE;
}

static PyObject *core_closed(PyObject *self, void *unused) {
  (void)unused;
  return PyBool_FromLong(((CoreObject *)self)->closed);
}

/* The C string for one argument: NULL for None; a str's UTF-8 (cached in
 * the str, NUL-terminated) or a bytes' buffer, refused with a NUL inside;
 * anything else through edgekey._bytes, whose result *keep holds. */
static int c_string(PyObject *o, int i, const char **out, PyObject **keep) {
  const char *p;
  Py_ssize_t n;
  if (o == Py_None) {
    *out = NULL;
    return 0;
  }
  if (PyUnicode_CheckExact(o)) {
    p = PyUnicode_AsUTF8AndSize(o, &n);
    if (!p) return -1;
  } else {
    if (!PyBytes_CheckExact(o)) {
      o = *keep = PyObject_CallFunction(g_convert, "Os", o, k_names[i]);
      if (!o) return -1;
      if (!PyBytes_CheckExact(o)) {
        PyErr_SetString(PyExc_TypeError, "edgekey._bytes returned no bytes");
        return -1;
      }
    }
    p = PyBytes_AS_STRING(o);
    n = PyBytes_GET_SIZE(o);
  }
  if (memchr(p, 0, (size_t)n)) {
    PyErr_Format(PyExc_ValueError, "edgekey: %s contains a NUL character", k_names[i]);
    return -1;
  }
  *out = p;
  return 0;
}

static PyObject *core_validate(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  CoreObject *c = (CoreObject *)self;
  PyObject *a[5] = {NULL, Py_None, Py_None, Py_None, Py_None};
  if (nargs > 5) {
    PyErr_Format(PyExc_TypeError, "validate() takes from 2 to 6 positional arguments but %zd were given", nargs + 1);
    return NULL;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) a[i] = args[i];
  if (kwnames) {
    Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nk; ++k) {
      PyObject *name = PyTuple_GET_ITEM(kwnames, k);
      int i = 0;
      while (i < 5 && name != g_kw[i]) ++i; /* interned: the caller's literal is the same object */
      if (i == 5)
        for (i = 0; i < 5 && !(PyUnicode_Check(name) && PyUnicode_Compare(name, g_kw[i]) == 0); ++i) {
        }
      if (i == 5) {
        PyErr_Format(PyExc_TypeError, "validate() got an unexpected keyword argument '%S'", name);
        return NULL;
      }
      if (i < nargs) {
        PyErr_Format(PyExc_TypeError, "validate() got multiple values for argument '%s'", k_names[i]);
        return NULL;
      }
      a[i] = args[nargs + k];
    }
  }
  if (!a[0]) {
    PyErr_SetString(PyExc_TypeError, "validate() missing 1 required positional argument: 'authorization'");
    return NULL;
  }
  if (c->closed) {
    PyErr_SetNone(g_closed_error);
    return NULL;
  }
  ek_request req;
  PyObject *keep[5] = {NULL, NULL, NULL, NULL, NULL};
  const char **field[5] = {&req.authorization, &req.permission, &req.client_ip, &req.origin, &req.env};
  PyObject *out = NULL;
  for (int i = 0; i < 5; ++i)
    if (c_string(a[i], i, field[i], &keep[i]) != 0) goto done;
  /* Python code (edgekey._bytes) may have run: closed since? */
  if (c->closed || !c->v) {
    PyErr_SetNone(g_closed_error);
    goto done;
  }
  ek_result res;
  g_validate(c->v, &req, &res);
  ResultObject *r = PyObject_New(ResultObject, &ResultType);
  if (!r) goto done;
  r->status = res.status;
  r->code = res.code;
  r->type = res.type;
  r->env = res.env;
  r->expires_at = res.expires_at;
  r->has_key = res.key_id[0] != 0;
  if (r->has_key) memcpy(r->names, res.key_id, sizeof r->names);
  out = (PyObject *)r;
done:
  for (int i = 0; i < 5; ++i) Py_XDECREF(keep[i]);
  return out;
}

static PyMethodDef core_methods[] = {
    {"validate", (PyCFunction)(void (*)(void))core_validate, METH_FASTCALL | METH_KEYWORDS,
     "validate(authorization, permission=None, client_ip=None, origin=None, env=None) -> Result"},
    {"_attach", core_attach, METH_O, "Takes the ek_validator (its address) this Core validates with."},
    {"close", core_close, METH_NOARGS, "Releases the C validator; validate() then raises ClosedError."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"closed", core_closed, NULL, "True once close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edgekey._speedups.Core",
    .tp_basicsize = sizeof(CoreObject),
    .tp_dealloc = core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A C validator used under the GIL (edgekey.Validator derives from it).",
    .tp_methods = core_methods,
    .tp_getset = core_getset,
    .tp_new = PyType_GenericNew,
};

/* ---- module --------------------------------------------------------- */

/* setup(validate_addr, close_addr, ClosedError, convert, codes, types, envs) */
static PyObject *setup(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *va, *ca, *ce, *conv, *codes, *types, *envs;
  if (!PyArg_ParseTuple(args, "OOOOO!O!O!", &va, &ca, &ce, &conv, &PyTuple_Type, &codes, &PyTuple_Type, &types,
                        &PyTuple_Type, &envs))
    return NULL;
  void *v = PyLong_AsVoidPtr(va), *cl = PyLong_AsVoidPtr(ca);
  if (PyErr_Occurred()) return NULL;
  if (!v || !cl) {
    PyErr_SetString(PyExc_ValueError, "setup: NULL function");
    return NULL;
  }
  g_validate = (validate_fn)v;
  g_close = (close_fn)cl;
  Py_XSETREF(g_closed_error, Py_NewRef(ce));
  Py_XSETREF(g_convert, Py_NewRef(conv));
  Py_XSETREF(g_codes, Py_NewRef(codes));
  Py_XSETREF(g_types, Py_NewRef(types));
  Py_XSETREF(g_envs, Py_NewRef(envs));
  Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"setup", setup, METH_VARARGS, "Hands the module libedgekey's functions and the package's types."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "edgekey._speedups", NULL, -1, module_methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__speedups(void) {
  if (PyType_Ready(&ResultType) < 0 || PyType_Ready(&CoreType) < 0) return NULL;
  for (int i = 0; i < 5; ++i)
    if (!g_kw[i] && !(g_kw[i] = PyUnicode_InternFromString(k_names[i]))) return NULL;
  PyObject *m = PyModule_Create(&module);
  if (!m) return NULL;
  if (PyModule_AddObject(m, "Result", Py_NewRef((PyObject *)&ResultType)) < 0 ||
      PyModule_AddObject(m, "Core", Py_NewRef((PyObject *)&CoreType)) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
