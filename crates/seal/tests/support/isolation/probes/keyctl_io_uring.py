KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING = 0, -3
put("keyctl", syscall("keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0))
params = ctypes.create_string_buffer(120)
put("io_uring_setup", syscall("io_uring_setup", 1, params))
