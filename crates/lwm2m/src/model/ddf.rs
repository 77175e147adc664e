//! OMA DDF XML loader (the LwM2M registry format). To be implemented.
