// Search-result snippets are plain text cut out of the pages, so they carry the TeX source of any
// math (e.g. "\(\Sigma^*\)"). Drop a delimiter pair that the cut left unbalanced, then let MathJax
// typeset the snippets like the pages themselves.
(function () {
  "use strict";
  function balance(text) {
    const re = /\\\(|\\\)|\\\[|\\\]/g;
    const open = [];
    let cutBefore = 0, m;
    while ((m = re.exec(text)) !== null) {
      const tok = m[0];
      if (tok === "\\(" || tok === "\\[") { open.push(m.index); }
      else if (open.length) { open.pop(); }
      else { cutBefore = m.index + 2; }  // a closing delimiter whose opening was cut off
    }
    let out = text;
    if (open.length) { out = out.slice(0, open[0]); }  // an opening delimiter whose closing was cut off
    out = out.slice(cutBefore);
    return out === text ? text : out.trim() + " ...";
  }
  function fix(box) {
    const fresh = [];
    box.querySelectorAll("p.context:not([data-math-done])").forEach(function (p) {
      p.setAttribute("data-math-done", "1");
      if (!/\\[()[\]]/.test(p.textContent)) { return; }
      const balanced = balance(p.textContent);
      if (balanced !== p.textContent) { p.textContent = balanced; }  // else keep the highlighting
      p.classList.add("mathjax_process");
      fresh.push(p);
    });
    if (fresh.length && window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(function () { return MathJax.typesetPromise(fresh); })
        .catch(function (err) { console.warn("MathJax could not typeset a search snippet:", err); });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    const box = document.getElementById("search-results");
    if (!box) { return; }
    new MutationObserver(function () { fix(box); }).observe(box, {childList: true, subtree: true});
  });
})();
