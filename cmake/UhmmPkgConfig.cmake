# uhmm_install_pkgconfig(<template>)
#
# Installs <libdir>/pkgconfig/uhmm.pc.  The file is configured at *install*
# time from the CMAKE_INSTALL_PREFIX that `cmake --install` uses, so
# `cmake --install build --prefix /some/dir` yields a .pc file describing
# /some/dir.  Install rules run in order: the install(CODE) below regenerates
# the file, the install(FILES) after it copies it (honouring DESTDIR).
include_guard(GLOBAL)

function(uhmm_install_pkgconfig template)
    set(_gen "${PROJECT_BINARY_DIR}/pkgconfig/uhmm.pc")
    foreach(_d LIBDIR INCLUDEDIR)
        if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
            set(_pc_${_d} "${CMAKE_INSTALL_${_d}}")
        else()
            set(_pc_${_d} "\${prefix}/${CMAKE_INSTALL_${_d}}")
        endif()
    endforeach()
    # Configure-time copy too, so the build tree always has one to inspect.
    set(PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(PC_LIBDIR "${_pc_LIBDIR}")
    set(PC_INCLUDEDIR "${_pc_INCLUDEDIR}")
    configure_file("${template}" "${_gen}" @ONLY)
    install(CODE "
        set(PROJECT_DESCRIPTION [==[${PROJECT_DESCRIPTION}]==])
        set(PROJECT_VERSION [==[${PROJECT_VERSION}]==])
        set(PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
        set(PC_LIBDIR [==[${_pc_LIBDIR}]==])
        set(PC_INCLUDEDIR [==[${_pc_INCLUDEDIR}]==])
        configure_file([==[${template}]==] [==[${_gen}]==] @ONLY)
    ")
    install(FILES "${_gen}" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
endfunction()
