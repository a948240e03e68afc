import resource
for f in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
          "Seccomp_filters", "Uid", "Gid", "Groups"]:
    put(f, status_field(f))
put("rlimit_core", "%d,%d" % resource.getrlimit(resource.RLIMIT_CORE))
