// The MCP server's admin page: show the stdio fields (command, args, env, cwd,
// replicas) or the URL fields (url, headers, replica URLs) as the transport says.
// The fieldsets carry the classes hub-transport-stdio / hub-transport-url
// (endpoints/admin/mcp_server.py); the server ignores the other transport's fields.
"use strict";
(function () {
  function transportOf(page) {
    const select = page.querySelector("#id_transport");
    if (select) return select.value;
    const shown = page.querySelector(".field-transport .readonly");
    return shown ? shown.textContent.trim() : null;
  }

  function apply(page) {
    const transport = transportOf(page);
    if (!transport) return;
    const usesUrl = transport !== "stdio";
    page.querySelectorAll("fieldset.hub-transport-stdio").forEach((set) => { set.hidden = usesUrl; });
    page.querySelectorAll("fieldset.hub-transport-url").forEach((set) => { set.hidden = !usesUrl; });
  }

  document.addEventListener("DOMContentLoaded", () => {
    apply(document);
    const select = document.getElementById("id_transport");
    if (select) select.addEventListener("change", () => apply(document));
  });
})();
