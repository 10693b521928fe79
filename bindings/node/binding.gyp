{
  "targets": [{
    "target_name": "edgekey",
    "sources": ["src/addon.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
    "cflags_cc": ["-std=c++17", "<!@(pkg-config --cflags edgekey)"],
    "libraries": ["<!@(pkg-config --libs edgekey)",
                  "-Wl,-rpath,<!@(pkg-config --variable=libdir edgekey)"]
  }]
}
