// Live updates of the Now page: the server sends the section's HTML (rendered and escaped
// on the server) whenever it changes.
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-events"));
  source.addEventListener("now", function (event) {
    var data = JSON.parse(event.data);
    if (document.activeElement && live.contains(document.activeElement) &&
        document.activeElement.tagName === "INPUT") { return; }
    live.innerHTML = data.html;
    live.setAttribute("data-updated", String(Date.now()));
  });
})();
